"""Drive Debian's headless Chromium from tests over the Chrome DevTools Protocol.

    async with launch_browser() as browser:
        page = await browser.new_page()
        await page.goto("http://127.0.0.1:8080/")
        assert await page.evaluate("document.title") == "..."
        await page.type_text("#f-q", "simpus")
        await page.screenshot(tmp_path / "list.png")
        assert page.errors == []

Chromium comes from PATH or /usr/bin, else is installed from Debian (tests/tools.py); when it
cannot be had the test fails rather than skips. It runs with a fresh profile in a temporary
directory, which is removed with the process. The protocol is spoken over aiohttp's websocket
client: one connection to the browser, one flattened session per page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.tools import require_tools

START_TIMEOUT_SECONDS = 30.0
COMMAND_TIMEOUT_SECONDS = 30.0
LOAD_TIMEOUT_SECONDS = 30.0

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--hide-scrollbars",
    "--mute-audio",
    "--force-color-profile=srgb",
    "--remote-debugging-port=0",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")

Json = dict[str, Any]


class BrowserError(RuntimeError):
    """Chromium did not start, a command failed, or a page did not load in time."""


@dataclass(frozen=True)
class ConsoleProblem:
    """A console error, an uncaught exception or an error log entry of a page."""

    source: str  # "console", "exception" or "log"
    text: str
    url: str | None = None

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        return f"[{self.source}] {self.text}{where}"


@dataclass
class _Connection:
    """One websocket to the browser: commands matched to answers, events to listeners."""

    ws: aiohttp.ClientWebSocketResponse
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _pending: dict[int, asyncio.Future[Json]] = field(default_factory=dict)
    # session id ("" for the browser) -> listeners called with (method, params)
    _listeners: dict[str, list[Callable[[str, Json], None]]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="cdp-reader")

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if "id" in data:
                    fut = self._pending.pop(data["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(data)
                    continue
                for listener in list(self._listeners.get(data.get("sessionId", ""), [])):
                    listener(data["method"], data.get("params", {}))
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(BrowserError("the DevTools connection closed"))
            self._pending.clear()

    def listen(self, session: str, listener: Callable[[str, Json], None]) -> None:
        self._listeners.setdefault(session, []).append(listener)

    async def send(self, method: str, params: Json | None = None, *, session: str = "") -> Json:
        msg_id = next(self._ids)
        fut: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        message: Json = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send_str(json.dumps(message))
        try:
            answer = await asyncio.wait_for(fut, COMMAND_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise BrowserError(f"{method}: no answer in {COMMAND_TIMEOUT_SECONDS} s") from exc
        finally:
            self._pending.pop(msg_id, None)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        result: Json = answer.get("result", {})
        return result

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class Page:
    """One tab: navigate, evaluate, type, choose, screenshot; collects console problems."""

    def __init__(self, conn: _Connection, target_id: str, session: str) -> None:
        self._conn = conn
        self.target_id = target_id
        self.session = session
        self.errors: list[ConsoleProblem] = []
        self.dialogs: list[str] = []  # alert/confirm/prompt messages (each is dismissed)
        self._waiters: list[tuple[str, asyncio.Future[Json]]] = []
        self._tasks: set[asyncio.Task[Json]] = set()
        conn.listen(session, self._on_event)

    async def send(self, method: str, params: Json | None = None) -> Json:
        return await self._conn.send(method, params, session=self.session)

    def _on_event(self, method: str, params: Json) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(_remote_text(a) for a in params.get("args", []))
            self.errors.append(ConsoleProblem("console", text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exc = details.get("exception", {})
            text = exc.get("description") or details.get("text", "exception")
            self.errors.append(ConsoleProblem("exception", text, details.get("url")))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.errors.append(ConsoleProblem("log", entry.get("text", ""), entry.get("url")))
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(str(params.get("message", "")))
            task = asyncio.get_running_loop().create_task(
                self.send("Page.handleJavaScriptDialog", {"accept": False})
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for waited, fut in list(self._waiters):
            if waited == method and not fut.done():
                fut.set_result(params)

    def expect(self, method: str) -> asyncio.Future[Json]:
        """A future for the next `method` event; call before the action that causes it."""
        fut: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, fut))
        fut.add_done_callback(lambda f: self._waiters.remove((method, f)))
        return fut

    async def enable(self) -> None:
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            await self.send(domain)

    async def set_viewport(self, width: int, height: int, *, scale: float = 1.0) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False},
        )

    async def goto(self, url: str, *, timeout: float = LOAD_TIMEOUT_SECONDS) -> None:
        """Navigate and wait for the load event; an HTTP error status is not an error here."""
        loaded = self.expect("Page.loadEventFired")
        answer = await self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            loaded.cancel()
            raise BrowserError(f"navigating to {url}: {answer['errorText']}")
        try:
            await asyncio.wait_for(loaded, timeout)
        except TimeoutError as exc:
            raise BrowserError(f"{url} did not load in {timeout} s") from exc

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited); raises if it throws."""
        answer = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"evaluating {expression[:80]!r}: {text}")
        return answer.get("result", {}).get("value")

    async def type_text(self, selector: str, text: str) -> None:
        """Set an input's value as typing would, firing an input event per character."""
        await self.evaluate(
            f"""(() => {{
              const el = document.querySelector({json.dumps(selector)});
              if (!el) throw new Error("no element " + {json.dumps(selector)});
              el.focus();
              el.value = "";
              for (const ch of {json.dumps(text)}) {{
                el.value += ch;
                el.dispatchEvent(new InputEvent("input", {{bubbles: true, data: ch}}));
              }}
              el.dispatchEvent(new Event("change", {{bubbles: true}}));
            }})()"""
        )

    async def select(self, selector: str, value: str) -> None:
        """Choose an option of a select by value, firing input and change events."""
        await self.evaluate(
            f"""(() => {{
              const el = document.querySelector({json.dumps(selector)});
              if (!el) throw new Error("no element " + {json.dumps(selector)});
              if (![...el.options].some(o => o.value === {json.dumps(value)}))
                throw new Error("no option " + {json.dumps(value)});
              el.value = {json.dumps(value)};
              el.dispatchEvent(new Event("input", {{bubbles: true}}));
              el.dispatchEvent(new Event("change", {{bubbles: true}}));
            }})()"""
        )

    async def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page (all of it by default) written to `path`."""
        params: Json = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
        answer = await self.send("Page.captureScreenshot", params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(answer["data"]))
        return path

    async def close(self) -> None:
        with contextlib.suppress(BrowserError):
            await self._conn.send("Target.closeTarget", {"targetId": self.target_id})


def _remote_text(arg: Json) -> str:
    if "value" in arg:
        return str(arg["value"])
    return str(arg.get("description") or arg.get("type", ""))


class Browser:
    """A running headless Chromium and its DevTools connection."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        conn: _Connection,
        session: aiohttp.ClientSession,
        stderr_tail: deque[str],
    ) -> None:
        self.process = process
        self._conn = conn
        self._session = session
        self.stderr_tail = stderr_tail

    async def version(self) -> str:
        return str((await self._conn.send("Browser.getVersion"))["product"])

    async def new_page(self, *, width: int = 1280, height: int = 900) -> Page:
        target = await self._conn.send("Target.createTarget", {"url": "about:blank"})
        attached = await self._conn.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self._conn, target["targetId"], attached["sessionId"])
        await page.enable()
        await page.set_viewport(width, height)
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._conn.send("Browser.close"), 5)
        await self._conn.close()
        await self._session.close()


async def _drain(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    while line := await stream.readline():
        tail.append(line.decode(errors="replace").rstrip())


@contextlib.asynccontextmanager
async def launch_browser(*extra_flags: str) -> AsyncIterator[Browser]:
    """Start Chromium with a fresh profile; stop it and remove the profile afterwards."""
    chromium = require_tools({"chromium": "chromium"})["chromium"]
    profile = tempfile.mkdtemp(prefix="pantau-chromium-")
    process = await asyncio.create_subprocess_exec(
        chromium,
        *FLAGS,
        f"--user-data-dir={profile}",
        *extra_flags,
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    tail: deque[str] = deque(maxlen=50)
    drain: asyncio.Task[None] | None = None
    browser: Browser | None = None
    try:
        ws_url = await _devtools_url(process.stderr, tail)
        drain = asyncio.create_task(_drain(process.stderr, tail), name="chromium-stderr")
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(ws_url, max_msg_size=0)
        except Exception:
            await session.close()
            raise
        conn = _Connection(ws)
        conn.start()
        browser = Browser(process, conn, session, tail)
        yield browser
    finally:
        if browser is not None:
            await browser.close()
        else:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_url(stderr: asyncio.StreamReader, tail: deque[str]) -> str:
    """Read Chromium's stderr until it names its DevTools websocket."""

    async def read() -> str:
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            tail.append(text)
            found = _LISTENING.search(text)
            if found:
                return found.group(1)
        raise BrowserError("Chromium exited before DevTools listened:\n" + "\n".join(tail))

    try:
        return await asyncio.wait_for(read(), START_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        raise BrowserError(
            f"Chromium did not open DevTools in {START_TIMEOUT_SECONDS} s:\n" + "\n".join(tail)
        ) from exc
