"""The optional generator: one deadline per call, a bound on calls in flight, masked questions.

Real loopback servers stand in for the endpoint: one answers at once and records what it was
sent; one trickles its response a byte every 0.2 s for minutes (an endpoint that keeps a
per-read timeout happy forever). Timing bounds are generous: < 3x the deadline, never exact.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from qa_service.app import build_state, create_app
from qa_service.generator import Generator
from qa_service.store import Store
from tests.qa_service.conftest import make_settings
from tests.qa_service.servers import GeneratorStub

QUESTION = "创业担保贷款最高额度是多少？我的电话139.1234.5678"
DEADLINE = 1.0
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


class TrickleServer(socketserver.ThreadingTCPServer):
    """Reads the request, sends `head` at once, then `trickled` one byte every 0.2 s; counts connections."""

    daemon_threads = True

    def __init__(self, head: bytes, trickled: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _TrickleHandler)
        self.head, self.trickled = head, trickled
        self.connected = threading.Semaphore(0)
        self.connections = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _TrickleHandler(socketserver.BaseRequestHandler):
    server: TrickleServer

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
        self.request.recv(65536)
        self.server.connected.release()
        try:
            self.request.sendall(self.server.head)
            for i in range(len(self.server.trickled)):
                if self.server.stop.wait(0.2):  # the server's pace, not a test waiting
                    return
                self.request.sendall(self.server.trickled[i : i + 1])
        except OSError:  # the client gave up: what the deadline is for
            return


def _serve(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    if isinstance(server, TrickleServer):
        server.stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["headers", "body"])
def trickle(request) -> Iterator[TrickleServer]:
    """Trickles the status line and headers, or sends them at once and trickles a 100 kB body."""
    body = b" " * 100_000
    server = TrickleServer(b"", HEADERS + body) if request.param == "headers" else TrickleServer(HEADERS, body)
    yield from _serve(server)  # type: ignore[misc]


@pytest.fixture
def recorder() -> Iterator[GeneratorStub]:
    with GeneratorStub("可以申请创业担保贷款，额度见原文 [1]").running() as stub:
        yield stub


@pytest.fixture
def answer(state):
    a = state.snapshot().answerer.answer(QUESTION)
    assert not a.abstained and a.sentences
    return a


# -- construction ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "ftp://x"}, "base_url must start with"),
        ({"timeout_s": 0}, "timeout_s must be > 0"),
        ({"max_concurrency": 0}, "max_concurrency must be >= 1"),
    ],
)
def test_constructor_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Generator(**{"base_url": "http://127.0.0.1:9/v1", "model": "m", **kwargs})


# -- behaviour ----------------------------------------------------------------------------------
def test_rephrases_with_a_masked_question(recorder, answer):
    out = Generator(recorder.url, "m", timeout_s=5).rephrase(answer)
    assert out.source == "generated" and out.text.endswith("[1]")
    [sent] = [json.loads(b) for b in recorder.bodies]
    prompt = sent["messages"][1]["content"]
    assert "139.1234.5678" not in prompt and "[手机号]" in prompt
    assert answer.sentences[0].text in prompt, "the sentences it may rephrase are sent as they are"


def test_a_trickling_endpoint_cannot_hold_the_call_past_its_deadline(trickle, answer):
    t0 = time.perf_counter()
    out = Generator(trickle.url, "m", timeout_s=DEADLINE).rephrase(answer)
    elapsed = time.perf_counter() - t0
    assert out is answer, "the extractive answer is kept"
    assert elapsed < 3 * DEADLINE, f"held for {elapsed:.1f} s with a {DEADLINE} s deadline"


def test_calls_beyond_the_bound_keep_the_extractive_answer_at_once(trickle, answer):
    gen = Generator(trickle.url, "m", timeout_s=DEADLINE, max_concurrency=2)
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(gen.rephrase, answer) for _ in range(2)]
        assert all(trickle.connected.acquire(timeout=5) for _ in held), "both calls reached the endpoint"
        t0 = time.perf_counter()
        third = gen.rephrase(answer)
        elapsed = time.perf_counter() - t0
        assert third is answer and elapsed < DEADLINE / 2, f"a call beyond the bound took {elapsed:.2f} s"
        assert trickle.connections == 2, "the third call never opened a connection"
        assert [f.result(timeout=3 * DEADLINE) for f in held] == [answer, answer]
    # The slots are free again once the held calls gave up.
    assert gen.rephrase(answer) is answer and trickle.connections == 3


# -- through the API ----------------------------------------------------------------------------
@pytest.fixture
def slow_client(tmp_path, policy_index, trickle) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path, generator_base_url=trickle.url, generator_model="m", generator_timeout_s=DEADLINE,
        generator_max_concurrency=1,
    )  # fmt: skip
    state = build_state(settings, index=policy_index, store=Store(settings.resolved_sqlite_path))
    with TestClient(create_app(state=state)) as c:
        yield c


def test_asks_return_the_extractive_answer_in_time_and_search_stays_free(slow_client, trickle):
    def ask() -> tuple[dict, float]:
        t0 = time.perf_counter()
        r = slow_client.post("/api/ask", json={"question": QUESTION})
        assert r.status_code == 200
        return r.json(), time.perf_counter() - t0

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(ask)
        assert trickle.connected.acquire(timeout=5), "the first ask holds the only generator slot"
        second, second_took = ask()
        t0 = time.perf_counter()
        assert slow_client.get("/api/search", params={"q": "居住证"}).status_code == 200
        search_took = time.perf_counter() - t0
        held, held_took = first.result(timeout=3 * DEADLINE)
    assert held["source"] == second["source"] == "extractive" and "30万元" in held["answer"]
    assert held_took < 3 * DEADLINE, f"the held ask took {held_took:.1f} s"
    assert second_took < DEADLINE and search_took < DEADLINE, (second_took, search_took)
    assert trickle.connections == 1
