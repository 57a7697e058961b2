"""Headless Chromium with no network, driven over the DevTools protocol on a pipe (no port).

`offline_browser()` starts Debian's /usr/bin/chromium with a fresh profile, every proxy and
host lookup pointed at nothing, and background traffic switched off; `Browser.open(url)`
loads a page and records every request it makes; `evaluate` reads the page (DevTools runs it
whatever the page's Content-Security-Policy says); `screenshot` writes a PNG.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-bypass-list=<-loopback>"]
QUIET = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--no-default-browser-check", "--mute-audio", "--hide-scrollbars"]


def missing() -> str | None:
    """Why no browser can be started here, or None."""
    if shutil.which(CHROMIUM) is None:
        return f"headless Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    return None


class Browser:
    def __init__(self, process: subprocess.Popen, commands, replies):
        self.process, self.commands, self.replies = process, commands, replies
        self.buffer = b""
        self.next_id = 0
        self.session = None
        self.events: list[dict] = []

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.commands.write(json.dumps(message).encode() + b"\0")
        self.commands.flush()
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self) -> dict:
        while b"\0" not in self.buffer:
            chunk = os.read(self.replies.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed its pipe (exit {self.process.poll()})")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def command(self, method: str, **params) -> dict:
        return self._send(method, params, self.session)

    def open(self, url: str, width: int = 1280, height: int = 900, timeout: float = 60) -> list[str]:
        """Load `url` in a fresh tab; return the URLs of every request the page made."""
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.command("Page.enable")
        self.command("Network.enable")
        self.command("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                     mobile=False)
        self.events.clear()
        self.command("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load in {timeout} s")
            self.events.append(self._read())
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def evaluate(self, expression: str):
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        shot = self.command("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.contextmanager
def offline_browser():
    """A headless Chromium that can reach no network, with a profile of its own."""
    with tempfile.TemporaryDirectory(prefix="vicourse-chromium-") as profile:
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        # --remote-debugging-pipe reads commands from fd 3 and writes replies to fd 4; the shell puts the
        # browser's ends there from numbers above both, so that neither move closes the other
        theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD, 20) for fd in (to_browser_read, from_browser_write)]
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)
        at_3_and_4 = f'exec 3<&{theirs[0]} 4>&{theirs[1]} {theirs[0]}<&- {theirs[1]}>&-; exec "$@"'
        process = subprocess.Popen(
            ["/bin/bash", "-c", at_3_and_4, "chromium", CHROMIUM, *QUIET, *OFFLINE, "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"],
            pass_fds=theirs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in theirs:
            os.close(fd)
        commands, replies = os.fdopen(to_browser_write, "wb"), os.fdopen(from_browser_read, "rb")
        try:
            yield Browser(process, commands, replies)
        finally:
            with contextlib.suppress(Exception):
                commands.write(json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                commands.flush()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            commands.close()
            replies.close()
