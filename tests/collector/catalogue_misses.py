"""Which texts were looked up in a catalogue that does not hold them (shown in English instead).

`test_translations.py` checks the catalogue against what extraction finds; this catches what it
cannot see: a text looked up through a name extraction does not know, or a template type it does
not read. Used by the tests that render whole Indonesian pages.
"""

from __future__ import annotations

import contextlib
import gettext
from collections.abc import Iterator

import pytest

from collector import i18n_catalog, templating


class Recorder:
    """A stand-in for the id catalogue that notes every message it does not hold."""

    def __init__(self, real: gettext.GNUTranslations) -> None:
        self.real = real
        self.misses: list[str] = []

    def _has(self, key: object, shown: str) -> None:
        if key not in self.real._catalog:  # type: ignore[attr-defined]
            self.misses.append(shown)

    def gettext(self, message: str) -> str:
        self._has(message, message)
        return self.real.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        self._has(f"{context}\x04{message}", f"[{context}] {message}")
        return self.real.pgettext(context, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self._has((singular, 0), singular)
        return self.real.ngettext(singular, plural, n)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        self._has((f"{context}\x04{singular}", 0), f"[{context}] {singular}")
        return self.real.npgettext(context, singular, plural, n)


@contextlib.contextmanager
def recording_misses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Within: the Indonesian catalogue records its misses in the list yielded (apps made
    inside take the recording environments)."""
    recorder = Recorder(i18n_catalog.translations("id"))
    real = i18n_catalog.translations

    def translations(lang: i18n_catalog.Lang) -> object:
        return recorder if lang == "id" else real(lang)

    monkeypatch.setattr(i18n_catalog, "translations", translations)
    monkeypatch.setattr(templating, "translations", translations)
    monkeypatch.setattr(templating, "_ENVIRONMENTS", {})  # new ones, on the recorder
    try:
        yield recorder.misses
    finally:
        monkeypatch.undo()
