"""Fixtures for the serving tests: a headless-Chromium driver speaking the DevTools protocol. The
model they serve is the session's ``overfit_model`` (``tests/conftest.py``: greedy decoding
reproduces three espeak-ng utterances through 8 kHz, MP3 and OGG, so an HTTP round trip must return
the right words).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI, WebSocket  # module level: the route's annotation is resolved from these globals

SR = 16000


# ---- streaming: test speech and a WebSocket server without Ray -----------------------------------

def two_sentences(folder: Path) -> np.ndarray:
    """Two espeak-ng sentences with 1 s of near-silence between them, 16 kHz float32 (about 4 s); the
    test skips without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make setup installs it)")
    from ds2ray.testing.overfit import synthesize

    gap = np.random.default_rng(0).normal(0, 10 ** (-70 / 20), SR).astype(np.float32)
    return np.concatenate([synthesize("open the door", folder / "a.wav"), gap,
                           synthesize("turn on the light", folder / "b.wav")]).astype(np.float32)


@contextlib.contextmanager
def websocket_server(service: Any, start_timeout_s: float = 30.0) -> Iterator[str]:
    """``service.handle`` mounted at ``/stream`` on FastAPI and served by uvicorn (the ASGI server Serve's
    proxy runs) in a thread on 127.0.0.1; yields the server's ``http://`` URL."""
    import uvicorn

    app = FastAPI()

    @app.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        await service.handle(websocket)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


# ---- headless Chromium over the DevTools protocol ------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--remote-debugging-port=0", "--autoplay-policy=no-user-gesture-required"]


class Chromium:
    """One headless Chromium page driven over CDP (a websocket; no browser download, no driver)."""

    def __init__(self, extra_flags: list[str]) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            pytest.skip("chromium not installed (make setup installs the Debian package)")
        self.profile = tempfile.mkdtemp(prefix="ds2ray_chromium_")
        self.proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", *extra_flags,
                                      "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        from websockets.sync.client import connect

        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._id = 0

    def cmd(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"CDP {method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        result = self.cmd("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"page never satisfied {expression!r}")

    def open(self, url: str) -> None:
        self.cmd("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && !!window.ds2ray")

    def mouse(self, kind: str, x: float, y: float) -> None:
        self.cmd("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                 buttons=1 if kind == "mousePressed" else 0, clickCount=1)

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def chromium_factory():
    browsers: list[Chromium] = []

    def start(extra_flags: list[str]) -> Chromium:
        browsers.append(Chromium(extra_flags))
        return browsers[-1]

    yield start
    for b in browsers:
        b.close()
