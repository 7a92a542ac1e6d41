"""Compile the gettext catalogues (collector/locale/*/LC_MESSAGES/pantau.po) at install.

Everything else about the package is in pyproject.toml. In an editable install the `.mo` files
are written next to their `.po` (setuptools' advice for generated files in editable mode).
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


class BuildPyWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(ROOT))
        from collector.i18n_catalog import compile_all

        locale = ROOT / "collector" / "locale"
        if self.editable_mode:
            compile_all(locale)
        else:
            compile_all(locale, Path(self.build_lib) / "collector" / "locale")


setup(cmdclass={"build_py": BuildPyWithCatalogues})
