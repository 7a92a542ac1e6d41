"""Jinja2 for every HTML page and mail: one autoescaping environment per language.

One environment per language (not one with per-request translations) because Jinja's i18n
extension binds `gettext` into the environment's globals; two languages make two small
environments, built once. Templates live in `collector/templates/` (`portal/`, `review/`,
`mail/`); undefined variables are errors, so a typo fails a test instead of printing an empty
string. HTML, XML and SVG templates (and templates from strings) escape every value; `.txt` (mail
bodies) and `.css` templates do not, as neither is HTML.

Every environment has the global `lang` and these filters, the language bound
(collector.formats and collector.labels say what each writes):

- numbers: `number(decimals=0)`, `quantity`, `compact`, `percent(decimals=2)`, `target`,
  `uptime`, `change`, `duration` (seconds), `response_time` (seconds)
- dates: `date`, `short_date`, `weekday_date`, `month_name` ("2026-10"), `moment(tz)` (a
  datetime in the ZoneInfo `tz`), `date_time(timezone)` (with the zone's name)
- names: `state_name`, `managed_by_name`, `lifecycle_name`, `criticality_name`, `reason_name`,
  `category_name`, `metric_name`

and gettext's `_`, `gettext`, `ngettext`, `pgettext`. The portal and the review add their own
through `extend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from collector import formats, labels
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
# The environments, built once: apps hold them (`setup`), so one is never replaced.
_ENVIRONMENTS: dict[Lang, jinja2.Environment] = {}


def extend(hook: Callable[[jinja2.Environment], None]) -> Callable[[jinja2.Environment], None]:
    """Register a function that adds filters/globals to every environment (a decorator).

    Call it at import time of the module that owns them: the environments built already get
    them at once (an app may hold one before the portal's views are imported), later ones when
    they are built. Filters are needed when a template compiles, globals when it renders.
    """
    _EXTENSIONS.append(hook)
    for env in _ENVIRONMENTS.values():
        hook(env)
    return hook


def environment(lang: Lang) -> jinja2.Environment:
    env = _ENVIRONMENTS.get(lang)
    if env is None:
        env = _ENVIRONMENTS[lang] = _build(lang)
    return env


def _build(lang: Lang) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, "templates"),
        # HTML escapes everything (a |safe is reviewed and commented); mail text and CSS do not
        autoescape=jinja2.select_autoescape(("html", "xml", "svg"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    _formats_and_names(env, lang)
    for hook in _EXTENSIONS:
        hook(env)
    return env


def _formats_and_names(env: jinja2.Environment, lang: Lang) -> None:
    def bound(f: Callable[..., str]) -> Callable[..., str]:
        return lambda value, *args, **kwargs: f(value, *args, lang, **kwargs)

    for name in ("quantity", "compact", "target", "uptime", "change", "duration",
                 "response_time", "date", "short_date", "weekday_date", "month_name",
                 "moment", "date_time"):  # fmt: skip
        env.filters[name] = bound(getattr(formats, name))
    env.filters["number"] = lambda value, decimals=0: formats.number(value, lang, decimals)
    env.filters["percent"] = lambda value, decimals=2: formats.percent(value, lang, decimals)
    for name in ("state_name", "managed_by_name", "lifecycle_name", "criticality_name",
                 "reason_name", "category_name", "metric_name"):  # fmt: skip
        env.filters[name] = bound(getattr(labels, name))


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


def markup(template: str, /, *args: object, **values: object) -> Markup:
    """HTML or SVG made in Python (the charts): `template` is the caller's own literal markup,
    and every value is escaped into it by markupsafe, as a template would do.

    Numbers go in as they are (with their format spec, "{x:.1f}"): no number writes a character
    that needs escaping. Not `Markup.format`, which does the same through `string.Formatter` in
    Python, ten times slower: a list page draws some 1,500 chart elements.
    """

    def safe(value: object) -> object:
        return value if isinstance(value, int | float) else escape(value)

    filled = template.format(*map(safe, args), **{k: safe(v) for k, v in values.items()})
    return Markup(filled)  # noqa: S704 (every value escaped above)
