"""The delivery worker: claims and delivers outbox rows until stopped (`python -m qa_service.push worker`).

One loop per channel and worker slot, each `deliver`ing only its channel's rows, so a receiver
that is slow or down (timeouts, back-off) never holds up the others. Any number of worker
processes, on any number of machines, may share one PostgreSQL database: claims skip each
other's rows (`FOR UPDATE SKIP LOCKED`) and leases make a killed worker's row come back.
The service starts one worker process in its lifespan (`push_worker = "process"`, the default).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from qa_service.push.delivery import Channel, DeliveryReport, deliver
from qa_service.push.store import PushStore
from qa_service.settings import Settings

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WorkerConfig:
    workers: int = 1  # loops per channel
    interval: float = 1.0  # seconds to wait when a pass found nothing due
    batch: int = 100
    max_attempts: int = 5
    retry_seconds: float = 60.0
    lease_seconds: float = 300.0
    digest_minute: int = 18 * 60

    def __post_init__(self) -> None:
        if self.workers < 1 or self.interval <= 0 or self.batch < 1:
            raise ValueError(f"workers and batch must be >= 1 and interval > 0, got {self}")

    @classmethod
    def of(cls, s: Settings, **overrides: Any) -> WorkerConfig:
        base = dict(
            workers=s.push_workers,
            interval=s.push_deliver_interval_seconds or 1.0,
            max_attempts=s.push_max_attempts,
            retry_seconds=s.push_retry_seconds,
            lease_seconds=s.push_lease_seconds,
            digest_minute=s.push_digest_minute,
        )
        return cls(**{**base, **overrides})


def _loop(
    store: PushStore, name: str, channel: Channel, config: WorkerConfig, stop: threading.Event, once: bool
) -> None:
    while not stop.is_set():
        try:
            report: DeliveryReport = deliver(
                store, {name: channel}, config.batch, max_attempts=config.max_attempts,
                retry_seconds=config.retry_seconds, lease_seconds=config.lease_seconds,
                digest_minute=config.digest_minute,
            )  # fmt: skip
        except Exception:  # the database briefly away: the outbox keeps what was not sent
            logger.exception("push worker pass on %s failed", name)
            stop.wait(config.interval)
            continue
        if report.claimed == 0:
            if once:
                return
            stop.wait(config.interval)


def run(
    store: PushStore,
    channels: Mapping[str, Channel],
    config: WorkerConfig,
    stop: threading.Event | None = None,
    *,
    once: bool = False,
) -> None:
    """Deliver until `stop` is set (or, with `once`, until nothing is due)."""
    stop = stop or threading.Event()
    threads = [
        threading.Thread(target=_loop, args=(store, name, ch, config, stop, once), name=f"push-{name}-{i}", daemon=True)
        for name, ch in channels.items()
        for i in range(config.workers)
    ]
    logger.info("push worker: %d loops on channels %s", len(threads), ", ".join(channels))
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)  # wakes for signals


# -- started by the service -------------------------------------------------------------------------------
def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the worker's environment (QA_*), so it runs with exactly the service's values.

    Passed in the child's environment, never on its command line (secrets would show in `ps`).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    for name, value in settings.model_dump().items():
        raw = getattr(settings, name)
        if raw is None:
            continue
        if isinstance(raw, SecretStr):
            value = raw.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | dict | tuple):
            import json

            value = json.dumps(value, default=str)
        env[f"QA_{name.upper()}"] = str(value)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return env


def start_process(settings: Settings) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "qa_service.push", "worker", "--workers", str(settings.push_workers)]
    proc = subprocess.Popen(cmd, env=settings_env(settings), cwd=str(REPO))  # noqa: S603 (our own module)
    logger.info("push worker process %d started", proc.pid)
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (the worker finishes the row in hand), then SIGKILL if it does not stop in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # safe too: leases bring its row back
            proc.wait()
    logger.info("push worker process %d stopped (%s)", proc.pid, proc.returncode)
