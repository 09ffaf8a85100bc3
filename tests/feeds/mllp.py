"""A real MLLP sender and a real listener process for the tests: python-hl7's own client (`hl7.client.MLLPClient`,
what its `mllp_send` command wraps) sends; `bedcast adt` listens in a process of its own, which a test may kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hl7.client import MLLPClient

__all__ = ["Listener", "free_port", "send_all"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Listener:
    """`bedcast adt` on a free port, its log in `log`; `start()`, `kill()` (SIGKILL, as a crash), `stop()`."""

    def __init__(self, url: str, folder: Path, locations: Path | None = None, *extra: str):
        self.url, self.folder, self.port = url, folder, free_port()
        self.log = folder / "adt.log"
        self.args = [sys.executable, "-m", "forecast.cli", "adt", "--port", str(self.port), "--into", url]
        self.args += ["--secret-file", str(folder / "secret")]
        if locations is not None:
            self.args += ["--locations", str(locations)]
        self.args += list(extra)
        self.process: subprocess.Popen | None = None

    def start(self) -> Listener:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the listener exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the listener did not open its port")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def send_all(
    messages: list[str], port: int, after_ack: Callable[[int], None] | None = None, patience: float = 60
) -> dict[str, int]:
    """Send each message and wait for its ACK, as an integration engine does: a message without an ACK (the
    connection broke) is sent again on a new connection until it is acknowledged. Returns counts: `sent` (every
    send, resends included), `resent`, and the ACK codes.

    Args:
        after_ack: called with the number of messages acknowledged so far (a test kills the listener there).
        patience: seconds to keep reconnecting before giving up.
    """
    counts = {"sent": 0, "resent": 0, "AA": 0, "AE": 0, "AR": 0}
    client: MLLPClient | None = None
    for n, message in enumerate(messages, start=1):
        tries = 0
        deadline = time.monotonic() + patience
        while True:
            try:
                if client is None:
                    client = MLLPClient("127.0.0.1", port)
                    client.socket.settimeout(10)
                counts["sent"] += 1
                counts["resent"] += tries > 0
                ack = client.send_message(message)
                if not ack:
                    raise ConnectionError("closed without an ACK")
                break
            except OSError:
                if client is not None:
                    client.close()
                client = None
                tries += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        code = ack.split(b"MSA|", 1)[1][:2].decode()
        counts[code] += 1
        if after_ack is not None:
            after_ack(n)
    if client is not None:
        client.close()
    return counts
