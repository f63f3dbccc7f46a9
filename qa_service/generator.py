"""Optional rephrasing by an OpenAI-compatible chat endpoint (off by default, never in tests).

The generator sees only the extractive answer sentences and must cite them as [n].
Its output is rejected (and the extractive answer kept) if it cites nothing, cites a
sentence it was not given, or states a number that is not in those sentences.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from dataclasses import replace

from index.answer import Answer

logger = logging.getLogger(__name__)

_SYSTEM = (
    "你是政务服务热线的政策助手。只能依据给出的编号句子作答，不得添加句子之外的任何事实、数字或承诺。"
    "用通俗、简洁的中文改写答案，每句话末尾用 [编号] 标注所依据的句子。"
)
_MARK = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Generator:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 15.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"generator base_url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s

    def _complete(self, prompt: str) -> str:
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
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (configured URL)
            data = json.loads(resp.read().decode("utf-8"))
        return str(data["choices"][0]["message"]["content"]).strip()

    def rephrase(self, answer: Answer) -> Answer:
        """A rephrased answer keeping the citations, or `answer` unchanged if anything is off."""
        if answer.abstained or not answer.sentences:
            return answer
        numbered = "\n".join(f"[{i}] {s.text}" for i, s in enumerate(answer.sentences, 1))
        prompt = f"问题：{answer.question}\n可依据的句子：\n{numbered}\n请改写成一段回答。"
        try:
            text = self._complete(prompt)
        except Exception as exc:  # any failure of an optional remote service falls back to extractive
            logger.warning("generator failed, keeping the extractive answer: %s", type(exc).__name__)
            return answer
        cited = {int(m) for m in _MARK.findall(text)}
        source_text = "".join(s.text for s in answer.sentences)
        numbers_ok = all(n in source_text for n in _NUMBER.findall(_MARK.sub("", text)))
        if not cited or not cited <= set(range(1, len(answer.sentences) + 1)) or not numbers_ok:
            logger.info("generator output rejected (citations %s, numbers ok %s)", sorted(cited), numbers_ok)
            return answer
        return replace(answer, text=text, source="generated")
