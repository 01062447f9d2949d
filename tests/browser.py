"""A real headless Chromium (Debian's `chromium` package) driven over the
Chrome DevTools Protocol on a websocket: open a page, run JavaScript in it,
wait for something to appear, take a screenshot. No downloaded browser, no
driver binary.

Screenshots go to $LOADWATCH_ARTIFACTS, else tests/artifacts (gitignored)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root in a sandbox with no internet: no sandbox, no GPU, no calls home.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
]
ARTIFACTS = Path(os.environ.get("LOADWATCH_ARTIFACTS") or Path(__file__).parent / "artifacts")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH: browser tests need Debian's package (apt-get install chromium)",
)


class BrowserError(Exception):
    """The browser answered a command with an error, or a page's script threw."""


class Browser:
    """One headless Chromium with one tab."""

    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="loadwatch-chromium-")
        self._process: asyncio.subprocess.Process | None = None
        self._socket: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._events: dict[str, list[asyncio.Future[Any]]] = {}
        self._session: str | None = None
        self._drainer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        import websockets

        assert CHROMIUM is not None
        self._process = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={self._profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        endpoint = await asyncio.wait_for(self._devtools_endpoint(), 30)
        self._socket = await websockets.connect(endpoint, max_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attach = {"targetId": target["targetId"], "flatten": True}
        attached = await self.send("Target.attachToTarget", attach, session=False)
        self._session = attached["sessionId"]
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.viewport(1280, 900)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            # The browser may close the socket before it answers: it is going anyway.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send("Browser.close", session=False), 5)
            await self._socket.close()
        for task in (self._reader, self._drainer):
            if task is not None:
                task.cancel()
        if self._process is not None:
            if self._process.returncode is None:
                self._process.kill()
            await self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    async def _devtools_endpoint(self) -> str:
        """Chromium prints `DevTools listening on ws://...` once it is ready."""
        assert self._process is not None and self._process.stderr is not None
        while line := await self._process.stderr.readline():
            text = line.decode(errors="replace").strip()
            if text.startswith("DevTools listening on "):
                self._drainer = asyncio.create_task(self._drain(self._process.stderr))
                return text.removeprefix("DevTools listening on ")
        raise BrowserError("chromium exited before it listened for DevTools")

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def _read(self) -> None:
        async for raw in self._socket:
            message = json.loads(raw)
            if "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is None or future.done():
                    continue
                if "error" in message:
                    future.set_exception(BrowserError(message["error"].get("message")))
                else:
                    future.set_result(message.get("result", {}))
            else:
                for future in self._events.pop(message.get("method", ""), []):
                    if not future.done():
                        future.set_result(message.get("params", {}))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> Any:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session and self._session is not None:
            message["sessionId"] = self._session
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self._socket.send(json.dumps(message))
        return await future

    def _next_event(self, method: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._events.setdefault(method, []).append(future)
        return future

    async def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    async def open(self, url: str, timeout: float = 20) -> None:
        """Navigate and wait for the page's load event."""
        loaded = self._next_event("Page.loadEventFired")
        answer = await self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")
        await asyncio.wait_for(loaded, timeout)

    async def evaluate(self, expression: str, timeout: float = 20) -> Any:
        """The value of `expression` in the page (promises are awaited)."""
        answer = await asyncio.wait_for(
            self.send(
                "Runtime.evaluate",
                {"expression": expression, "returnByValue": True, "awaitPromise": True},
            ),
            timeout,
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(text)
        return answer["result"].get("value")

    async def wait_for(self, condition: str, timeout: float = 20) -> Any:
        """Wait until the JavaScript `condition` is truthy in the page, checked
        on every change of the page's DOM (a MutationObserver, not a timer)."""
        script = f"""new Promise(resolve => {{
            const check = () => {{
                const value = ({condition});
                if (value) {{ observer.disconnect(); resolve(value); }}
            }};
            const observer = new MutationObserver(check);
            observer.observe(document, {{subtree: true, childList: true,
                                        attributes: true, characterData: true}});
            check();
        }})"""
        return await self.evaluate(script, timeout)

    async def screenshot(self, name: str) -> Path:
        """A PNG of the whole page, saved under ARTIFACTS as `name`.png."""
        answer = await self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(answer["data"]))
        return path
