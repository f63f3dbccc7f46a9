"""`python -m qa_service.push worker [--workers N] [--once]`: the delivery worker (see `qa_service.push.worker`).

Settings come from the environment like the service's (`QA_PUSH_DATABASE_URL`, the channels'
`QA_PUSH_SMTP_*`, `QA_PUSH_SMS_*`, ...). SIGTERM or Ctrl-C stops it after the rows in hand.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from qa_service.privacy import MaskingFormatter


def _logging() -> None:
    # As `python -m qa_service` does: every line masked (the worker logs failures of personal channels).
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin at start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qa_service.push")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="claim and deliver outbox rows until stopped")
    w.add_argument("--workers", type=int, default=None, help="concurrent loops per channel (default: push_workers)")
    w.add_argument("--interval", type=float, default=None, help="seconds to wait when nothing is due")
    w.add_argument("--once", action="store_true", help="exit when nothing is due (for cron and tests)")
    w.add_argument("--database-url", default=None, help="default: QA_PUSH_DATABASE_URL or the SQLite push store")
    args = parser.parse_args(argv)
    _logging()

    from qa_service.push.channels import build_channels
    from qa_service.push.store import PushStore
    from qa_service.push.worker import WorkerConfig, run
    from qa_service.settings import get_settings

    settings = get_settings()
    overrides = {k: v for k, v in (("workers", args.workers), ("interval", args.interval)) if v is not None}
    try:
        config = WorkerConfig.of(settings, **overrides)
    except ValueError as exc:
        parser.error(str(exc))
    store = PushStore(url=args.database_url or settings.resolved_push_database_url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run(store, build_channels(settings, store), config, stop, once=args.once)
    except KeyboardInterrupt:
        stop.set()
    finally:
        store.close()


if __name__ == "__main__":
    main()
