from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.audit import Actor
from collector.auth import create_token
from collector.catalog import sync
from collector.config import CollectorConfig
from collector.web.app import make_app
from wire.catalog import Catalog

# The tests' own catalogue writes, in the audit trail (a write needs an actor: collector/audit.py).
TEST_ACTOR = Actor.system("tests", via="test")

CATALOG = {
    "agencies": [
        {"id": "setda", "name": "Sekretariat Daerah"},
        {"id": "diskominfo", "name": "Dinas Komunikasi dan Informatika", "parent": "setda"},
        {
            "id": "dinkes",
            "name": "Dinas Kesehatan",
            "contact": "dinkes@kotimkab.go.id",
            "zones": ["dinkes-lan", "dc"],  # where its agency token may place apps
        },
    ],
    "apps": [
        {
            "id": "website",
            "name": "Website Kabupaten",
            "agency": "diskominfo",
            "managed_by": "self",
            "category": "information",
            "url": "https://kotimkab.go.id",
            "owner": {"name": "Budi", "email": "budi@kotimkab.go.id", "phone": "+62 812 0000 0001"},
            "target_uptime": 99.5,
            "tags": ["public"],
            "zones": ["dc"],
            "checks": [{"type": "http", "url": "https://kotimkab.go.id/", "expect_status": [200]}],
        },
        {
            "id": "simpus",
            "name": "SIMPUS",
            "agency": "dinkes",
            "managed_by": "self",
            "category": "health",
            "zones": ["dinkes-lan", "dc"],
            "checks": [{"type": "tcp", "host": "10.0.0.5", "port": 443}],
            "usage": [
                {
                    "metric": "visits",
                    "kind": "counter",
                    "source": {
                        "type": "sql",
                        "driver": "mysql",
                        "dsn_env": "PANTAU_SECRET_DINKES_SIMPUS_DSN",
                        "query": "SELECT count(*) FROM visits",
                    },
                },
                # The app posts these itself (POST /api/v1/usage with its app token).
                {"metric": "logins", "kind": "counter", "source": {"type": "push"}},
                {"metric": "active_users", "kind": "gauge", "source": {"type": "push"}},
            ],
        },
        {
            "id": "p-care",
            "name": "P-Care BPJS",
            "agency": "dinkes",
            "managed_by": "central",
            "provider": "BPJS Kesehatan",
            "category": "health",
            "zones": ["dc"],
        },
    ],
}


@dataclass(frozen=True)
class Tokens:
    admin: str
    dinkes: str  # agency token of dinkes
    probe_dc: str
    probe_dinkes: str
    app_simpus: str


async def seed(url: str) -> None:
    import msgspec

    conn = await asyncpg.connect(url)
    try:
        await sync.apply(conn, msgspec.convert(CATALOG, Catalog), source="test", actor=TEST_ACTOR)
    finally:
        await conn.close()


async def make_tokens(url: str) -> Tokens:
    conn = await asyncpg.connect(url)
    try:
        made = [
            (await create_token(conn, name=n, kind=k, **kw))[1]  # type: ignore[arg-type]
            for n, k, kw in (
                ("admin", "admin", {}),
                ("dinkes", "agency", {"agency": "dinkes"}),
                ("probe-dc", "probe", {"zone": "dc"}),
                ("probe-dinkes", "probe", {"zone": "dinkes-lan"}),
                ("simpus-push", "app", {"app": "simpus"}),
            )
        ]
    finally:
        await conn.close()
    return Tokens(*made)


def collector_config(**overrides: object) -> CollectorConfig:
    import msgspec

    return msgspec.convert({"metrics_refresh_seconds": 3600, **overrides}, CollectorConfig)


@pytest.fixture
async def seeded_db(fresh_db: str) -> str:
    await seed(fresh_db)
    return fresh_db


@pytest.fixture
async def tokens(seeded_db: str) -> Tokens:
    return await make_tokens(seeded_db)


@pytest.fixture
async def client(seeded_db: str) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = make_app(collector_config(), dsn=seeded_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def month_db(migrated_template: str) -> AsyncIterator[str]:
    """A database with the synthetic month of tests/collector/review_month.py, once per module."""
    from tests.collector.review_month import build_month_db
    from tests.pg import drop_test_database

    url = await build_month_db(migrated_template)
    yield url
    await drop_test_database(migrated_template, url)


@pytest.fixture(scope="session")
def pdf_tools() -> dict[str, str]:
    """WeasyPrint's system libraries and fonts (installed when missing, like the other Debian
    tools of the tests), and poppler's tools that read a PDF back: binary name -> path."""
    from collector.review.render.pdf import FONT_FILES, SYSTEM_LIBRARIES
    from tests.tools import require_libraries, require_tools

    require_libraries(SYSTEM_LIBRARIES, files=FONT_FILES)
    return require_tools(
        {"pdftoppm": "poppler-utils", "pdftotext": "poppler-utils", "pdfinfo": "poppler-utils"}
    )
