"""The gettext catalogue shared by the portal, the review and the e-mails (Babel-managed).

`collector/locale/pantau.pot` is extracted from the code and templates (`make messages`);
`collector/locale/<lang>/LC_MESSAGES/pantau.po` hold the translations and are compiled to `.mo`
at install (setup.py). Message ids are English; `en` is an empty catalogue, so English falls
back to the ids, and a message missing from `id` shows in English rather than breaking a page.

A checkout whose `.po` is newer than its `.mo` (an edit after `pip install -e .`) compiles the
catalogue in memory instead of serving stale text.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from pathlib import Path
from typing import Final, Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

Lang = Literal["id", "en"]
LANGS: Final[tuple[Lang, ...]] = ("id", "en")
DEFAULT_LANG: Final[Lang] = "id"
DOMAIN: Final = "pantau"
LOCALE_DIR: Final = Path(__file__).parent / "locale"
log = logging.getLogger(__name__)


def po_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(po: Path) -> bytes:
    """The `.mo` bytes of one `.po` file; fuzzy entries are left out, as msgfmt does."""
    with po.open("rb") as f:
        catalog = read_po(f)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_all(locale_dir: Path = LOCALE_DIR, out_dir: Path | None = None) -> list[Path]:
    """Compile every language's `.po` next to it (or under `out_dir`); returns the `.mo` paths."""
    written = []
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        target = (out_dir or locale_dir) / po.relative_to(locale_dir).with_suffix(".mo")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(compile_po(po))
        written.append(target)
    return written


@functools.cache
def translations(lang: Lang) -> gettext.GNUTranslations:
    po = po_path(lang)
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        data = mo.read_bytes()
    else:
        log.debug("%s: compiled in memory (no .mo, or older than its .po)", po)
        data = compile_po(po)
    return gettext.GNUTranslations(io.BytesIO(data))


def N_(message: str) -> str:  # the name gettext tools know
    """Marks a message for extraction (`make messages`) where it is translated later."""
    return message


def translate(lang: Lang, message: str, /, **values: object) -> str:
    """`message` in `lang`, with `%(name)s` placeholders filled (the templates' own format)."""
    text = translations(lang).gettext(message)
    return text % values if values else text


def translate_plural(lang: Lang, singular: str, plural: str, n: int, /, **values: object) -> str:
    text = translations(lang).ngettext(singular, plural, n)
    return text % {"num": n, **values}
