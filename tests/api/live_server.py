"""``clientela serve`` as a subprocess on a free loopback port, for tests that need a real
socket (the real Segment client) or a real SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CLIENTELA = str(Path(sys.executable).with_name("clientela"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A running ``clientela serve``; ``url`` is where it listens."""

    def __init__(self, root: Path, compact_seconds: float = 60.0) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root.parent / f"serve-{self.port}.log"
        with open(self.log, "wb") as out:
            command = [CLIENTELA, "serve", "-w", str(root), "--port", str(self.port)]
            command += ["--compact-seconds", str(compact_seconds)]
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the server did not start: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 120.0) -> None:
        """Graceful stop (SIGTERM): the server flushes and lands everything, then exits."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        assert code in (0, -signal.SIGTERM), self.output()

    def kill(self) -> None:
        """SIGKILL: no chance to flush, close or land anything."""
        self.process.kill()
        self.process.wait()
