"""The real service in a subprocess (`python -m qa_service`), for tests that kill it or grep its output.

Demo corpus, fake encoder, admin key set, push delivery only on request, rate limits out of the way.
stdout and stderr are kept whole; readiness is uvicorn's own line, not a sleep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = "process-admin-key"


class ServiceProcess:
    def __init__(self, data_dir: Path, **env_overrides: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
        env.update(
            PYTHONPATH=str(REPO),
            QA_HOST="127.0.0.1",
            QA_PORT=str(self.port),
            QA_DATA_DIR=str(data_dir),
            QA_ENCODER="fake",
            QA_ABSTAIN_DENSE_WEIGHT="0",
            QA_ADMIN_API_KEY=ADMIN_KEY,
            QA_RATE_LIMIT_PER_MINUTE="100000",
            QA_RATE_LIMIT_BURST="100000",
            QA_ADMIN_RATE_LIMIT_PER_MINUTE="100000",
            QA_ADMIN_RATE_LIMIT_BURST="100000",
            QA_PUSH_DELIVER_INTERVAL_SECONDS="0",
        )
        env.update(env_overrides)
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qa_service"],
            cwd=data_dir.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._ready = threading.Event()
        self._listening = False
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for t in self._readers:
            t.start()
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        self.admin = {"X-API-Key": ADMIN_KEY}

    def _read(self, name: str, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.out[name] += line
            if b"Uvicorn running on" in line:
                self._listening = True
                self._ready.set()
        self._ready.set()  # EOF: the process ended (a crash or a refusal to start)

    def wait_ready(self, timeout: float = 120) -> bool:
        """True once the server listens; False if the process ended first (its output then read to the end)."""
        self._ready.wait(timeout)
        if self._listening:
            return True
        self.proc.wait(timeout)
        self._join()  # the first EOF sets the event; the other stream may still be being read
        return False

    @property
    def stderr(self) -> str:
        return self.out["stderr"].decode("utf-8", errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._join()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown; the stores are closed after it
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._join()

    def _join(self) -> None:
        self.http.close()
        for t in self._readers:
            t.join(timeout=10)
