"""`python -m qa_service.push worker [--workers N] [--once]`: the delivery worker (see `qa_service.push.worker`);
`python -m qa_service.push bench --profiles N --out DIR`: the store's benchmark (`qa_service.push.bench`);
`python -m qa_service.push plan [--once] [--doc-id ID ...]`: planning jobs (`qa_service.push.plan_cli`).

Settings come from the environment like the service's (`QA_PUSH_DATABASE_URL`, the channels'
`QA_PUSH_SMTP_*`, `QA_PUSH_SMS_*`, ...). SIGTERM or Ctrl-C stops it after the rows in hand.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
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
    sub.add_parser("bench", add_help=False, help="plan-to-outbox and webhook delivery at scale; `bench -h` for options")
    p = sub.add_parser("plan", help="plan documents into the outbox as jobs (the service's index and labeller)")
    p.add_argument("--once", action="store_true", help="run the queued (and interrupted) jobs, then exit")
    p.add_argument("--doc-id", action="append", help="this document (repeatable); default: every unplanned one")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own options, and numpy / the matcher imported only for it
        from qa_service.push import bench

        raise SystemExit(bench.main(argv[1:]))
    args = parser.parse_args(argv)
    _logging()
    if args.command == "plan":
        from qa_service.push import plan_cli

        raise SystemExit(plan_cli.run(args.doc_id, args.once))

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
