"""`python -m qa_service.push plan [--once] [--doc-id ID ...]`: planning jobs outside the service.

It loads the index and labeller as the service does (`qa_service.app.build_state`), queues a job
(the named documents, or every document noted and not planned yet, when there are any) and runs
jobs: until none is left (`--once`, for cron and after a crash) or until SIGTERM, as the service's
planner thread does. A job another runner left half done is resumed once its lease has run out.
"""

from __future__ import annotations

import json
import signal
import threading


def run(doc_ids: list[str] | None, once: bool) -> int:
    from qa_service.app import build_state
    from qa_service.settings import get_settings

    state = build_state(get_settings())
    try:
        if doc_ids or state.push_store.unplanned_documents():
            state.push_jobs.submit(doc_ids, "cli")
        if once:
            failed = 0
            for job in state.push_jobs.run_pending():
                failed += job.status == "failed"
                print(json.dumps({"job": job.id, "status": job.status, "documents": job.progress,
                                  "enqueued": job.enqueued, "errors": len(job.errors), "error": job.error},
                                 ensure_ascii=False))  # fmt: skip
            return 1 if failed else 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        state.push_jobs.start()
        try:
            while not stop.wait(0.5):  # wakes for signals
                pass
        except KeyboardInterrupt:
            pass
        state.push_jobs.stop()
        return 0
    finally:
        state.store.close()
        state.push_store.close()
