"""The gettext catalogue shared by the portal, the review and the e-mails (Babel-managed).

`collector/locale/pantau.pot` is extracted from the code and templates (`make messages`, which
runs this module); `collector/locale/<lang>/LC_MESSAGES/pantau.po` hold the translations and are
compiled to `.mo` at install (setup.py). Message ids are English; `en` is an empty catalogue, so
English falls back to the ids, and a message missing from `id` shows in English rather than
breaking a page.

In Python: `translate(lang, "Open incident since %(at)s", at=...)`; where one English text needs
two Indonesian ones, a context tells them apart: `translate_in(lang, "portal", "Downtime")`.
Texts chosen later by a key (the names of states, reasons...) are marked where they are written
with `N_("Up")` (or `NC_(context, text)`), so that extraction finds them, and translated when shown.
Placeholders are always filled with `%`, in Python as in the templates (Jinja's newstyle
gettext), so a literal percent sign in a message is written `%%`.

A checkout whose `.po` is newer than its `.mo` (an edit after `pip install -e .`) compiles the
catalogue in memory instead of serving stale text.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
import subprocess
import sys
from pathlib import Path
from typing import Final, Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

Lang = Literal["id", "en"]
LANGS: Final[tuple[Lang, ...]] = ("id", "en")
DEFAULT_LANG: Final[Lang] = "id"
DOMAIN: Final = "pantau"
LOCALE_DIR: Final = Path(__file__).parent / "locale"
# What extraction looks for besides gettext's own names (_, N_, pgettext...): the message's
# argument of each function (2c: the context).
EXTRACT_KEYWORDS: Final = ("translate:2", "translate_in:2c,3", "translate_plural:2,3", "NC_:1c,2")
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


def N_(message: str) -> str:
    """Marks `message` for extraction where it is written; `translate` it where it is shown."""
    return message


def NC_(context: str, message: str) -> tuple[str, str]:
    """`N_` with a context: the pair for `translate_in(lang, *pair)`."""
    return context, message


def translate(lang: Lang, message: str, /, **values: object) -> str:
    """`message` in `lang`, with `%(name)s` placeholders filled (the templates' own format)."""
    return translations(lang).gettext(message) % values


def translate_in(lang: Lang, context: str, message: str, /, **values: object) -> str:
    """`message` in `lang` as the `context` (a word, "portal") wants it translated."""
    return translations(lang).pgettext(context, message) % values


def translate_plural(lang: Lang, singular: str, plural: str, n: int, /, **values: object) -> str:
    text = translations(lang).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def extract_command(pot: Path, root: Path) -> list[str]:
    """The `pybabel extract` command that writes every message of the code and templates under
    `root/collector` to `pot` (the catalogue tests run it too, to compare)."""
    keywords = [arg for k in EXTRACT_KEYWORDS for arg in ("-k", k)]
    return [str(Path(sys.executable).parent / "pybabel"), "-q", "extract",
            "-F", str(root / "babel.cfg"), "--no-location", "--sort-output", "--width=100", *keywords,
            "-o", str(pot), str(root / "collector")]  # fmt: skip


def update_messages(root: Path) -> None:
    """`make messages`: extract the messages, then add new ones to every language's `.po`."""
    pot = root / "collector" / "locale" / f"{DOMAIN}.pot"
    subprocess.run(extract_command(pot, root), check=True)  # noqa: S603 (our own pybabel)
    subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "pybabel"), "-q", "update", "-i", str(pot),
         "-d", str(root / "collector" / "locale"), "-D", DOMAIN, "--no-fuzzy-matching", "--width=100",
         "--ignore-obsolete"],
        check=True,
    )  # fmt: skip


if __name__ == "__main__":
    update_messages(Path(__file__).resolve().parent.parent)
