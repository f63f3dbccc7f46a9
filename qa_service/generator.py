"""Optional rephrasing by an OpenAI-compatible chat endpoint (off by default, never in tests).

The generator sees only the extractive answer sentences and the question with personal
details masked, and must cite the sentences as [n]. Its output is rejected (and the
extractive answer kept) if it cites nothing, cites a sentence it was not given, or states
a number that is not in those sentences.

A slow endpoint cannot hold requests hostage: `timeout_s` is one deadline for the whole
call (connect, send, every byte of the reply; a timer shuts the socket down when it
passes, so an endpoint trickling a byte at a time is cut off too), and at most
`max_concurrency` calls are in flight. An ask that finds no free slot, or whose call
passes the deadline, keeps its extractive answer at once.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import re
import socket
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from index.answer import Answer
from qa_service.privacy import mask_personal

if TYPE_CHECKING:
    from qa_service.settings import Settings

logger = logging.getLogger(__name__)

_SYSTEM = (
    "你是政务服务热线的政策助手。只能依据给出的编号句子作答，不得添加句子之外的任何事实、数字或承诺。"
    "用通俗、简洁的中文改写答案，每句话末尾用 [编号] 标注所依据的句子。"
)
_MARK = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MAX_RESPONSE_BYTES = 1_000_000


class GeneratorTimeout(TimeoutError):
    """The call passed its deadline."""


def _shut(conn: http.client.HTTPConnection) -> None:
    """Runs on the timer thread at the deadline: unblocks any read or write the call is stuck in."""
    sock = conn.sock
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, so TLS state is left alone
        except OSError:
            pass


class Generator:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 15.0,
        max_concurrency: int = 4,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"generator base_url must start with http:// or https://, got {base_url!r}")
        if not timeout_s > 0:
            raise ValueError(f"generator timeout_s must be > 0, got {timeout_s}")
        if max_concurrency < 1:
            raise ValueError(f"generator max_concurrency must be >= 1, got {max_concurrency}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        return cls(parts.hostname or "", parts.port, timeout=timeout)

    def _complete(self, prompt: str, deadline: float) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "temperature": 0,
                "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        remaining = deadline - time.monotonic()
        conn = self._connection(remaining)  # each socket operation also times out by the deadline
        timer = threading.Timer(remaining, _shut, (conn,))
        timer.daemon = True
        timer.start()
        try:
            conn.connect()
            if time.monotonic() >= deadline:  # the timer fired before there was a socket to shut
                raise GeneratorTimeout
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise OSError(f"generator answered HTTP {resp.status}")
            raw = resp.read(MAX_RESPONSE_BYTES + 1)
        finally:
            timer.cancel()
            conn.close()
        if time.monotonic() >= deadline:  # a shut socket may end a read early instead of raising
            raise GeneratorTimeout
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ValueError(f"generator reply over {MAX_RESPONSE_BYTES} bytes")
        data = json.loads(raw.decode("utf-8"))
        return str(data["choices"][0]["message"]["content"]).strip()

    def rephrase(self, answer: Answer) -> Answer:
        """A rephrased answer keeping the citations, or `answer` unchanged if anything is off."""
        if answer.abstained or not answer.sentences:
            return answer
        deadline = time.monotonic() + self.timeout_s
        if not self._slots.acquire(blocking=False):
            logger.info("generator busy (%d calls in flight), keeping the extractive answer", self.max_concurrency)
            return answer
        try:
            numbered = "\n".join(f"[{i}] {s.text}" for i, s in enumerate(answer.sentences, 1))
            prompt = f"问题：{mask_personal(answer.question)}\n可依据的句子：\n{numbered}\n请改写成一段回答。"
            text = self._complete(prompt, deadline)
        except Exception as exc:  # any failure of an optional remote service falls back to extractive
            if isinstance(exc, GeneratorTimeout) or time.monotonic() >= deadline:
                logger.warning("generator passed its %.1f s deadline, keeping the extractive answer", self.timeout_s)
            else:
                logger.warning("generator failed, keeping the extractive answer: %s", type(exc).__name__)
            return answer
        finally:
            self._slots.release()
        cited = {int(m) for m in _MARK.findall(text)}
        source_text = "".join(s.text for s in answer.sentences)
        numbers_ok = all(n in source_text for n in _NUMBER.findall(_MARK.sub("", text)))
        if not cited or not cited <= set(range(1, len(answer.sentences) + 1)) or not numbers_ok:
            logger.info("generator output rejected (citations %s, numbers ok %s)", sorted(cited), numbers_ok)
            return answer
        return replace(answer, text=text, source="generated")


@functools.lru_cache(maxsize=8)
def _shared(base_url: str, model: str, api_key: str | None, timeout_s: float, max_concurrency: int) -> Generator:
    return Generator(base_url, model, api_key, timeout_s, max_concurrency)


def generator_for(settings: Settings) -> Generator | None:
    """The configured generator, one per configuration so all asks share its concurrency bound."""
    if not settings.generator_enabled:
        return None
    key = settings.generator_api_key.get_secret_value() if settings.generator_api_key else None
    return _shared(
        settings.generator_base_url or "",
        settings.generator_model or "",
        key,
        settings.generator_timeout_s,
        settings.generator_max_concurrency,
    )
