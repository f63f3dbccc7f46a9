"""Which labeller the service uses: the rules with the tests' fake encoder (the models need their e5)."""

from __future__ import annotations

from corpus.push.labels import label_document
from qa_service.push.planner import default_labeller
from qa_service.push.service import labeller


def test_fake_encoder_falls_back_to_the_rules(state) -> None:
    assert getattr(state.snapshot().index.encoder, "name", "").startswith("fake")
    assert labeller(state) is label_document
    assert labeller(state) is state.push_labeller  # chosen once, then reused


def test_no_encoder_means_rules() -> None:
    assert default_labeller() is label_document
    assert default_labeller(None) is label_document
