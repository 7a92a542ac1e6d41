"""Jinja2 for every HTML page and mail: one autoescaping environment per language.

One environment per language (not one with per-request translations) because Jinja's i18n
extension binds `gettext` into the environment's globals; two languages make two small
environments, built once. Templates live in `collector/templates/`; undefined variables are
errors, so a typo fails a test instead of printing an empty string.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp_jinja2
import jinja2
from aiohttp import web

from collector.i18n_catalog import LANGS, Lang, translations

TEMPLATE_PACKAGE: Final = "collector"
ENV_KEYS: Final[dict[Lang, web.AppKey[jinja2.Environment]]] = {
    lang: web.AppKey(f"jinja_{lang}", jinja2.Environment) for lang in LANGS
}
# Values every page rendered for a request gets, set by middleware (the signed-in account and the
# form token: collector/accounts/web.py); a page's own context wins over them.
REQUEST_CONTEXT: Final = web.RequestKey[dict[str, Any]]("pantau_template_context")
# Filters and globals shared by every template; portal and review add theirs through `extend`.
_EXTENSIONS: list[Callable[[jinja2.Environment], None]] = []


def extend(hook: Callable[[jinja2.Environment], None]) -> Callable[[jinja2.Environment], None]:
    """Register a function that adds filters/globals to every environment (a decorator).

    Call it at import time of the module that owns the filters; environments made later get them.
    """
    _EXTENSIONS.append(hook)
    environment.cache_clear()
    return hook


@functools.cache
def environment(lang: Lang) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, "templates"),
        autoescape=True,  # every template is HTML or escapes on purpose (|safe is reviewed)
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    for hook in _EXTENSIONS:
        hook(env)
    return env


def render(template: str, lang: Lang, context: Mapping[str, Any] | None = None) -> str:
    """Render a template outside a request (review files, mail bodies, the CLI)."""
    return environment(lang).get_template(template).render(context or {})


def setup(app: web.Application) -> None:
    """Put both languages' environments on the app for `render_response`.

    Not `aiohttp_jinja2.setup()`: it builds a new environment per app, and ours are built once
    per language and shared (the app's own helpers `url` and `static` are not used).
    """
    for lang in LANGS:
        app[ENV_KEYS[lang]] = environment(lang)


def render_response(
    request: web.Request,
    template: str,
    lang: Lang,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    merged = {**request.get(REQUEST_CONTEXT, {}), **context}
    return aiohttp_jinja2.render_template(
        template, request, merged, app_key=ENV_KEYS[lang], status=status
    )
