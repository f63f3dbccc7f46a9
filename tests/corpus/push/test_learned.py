"""The learned labeller: rules unless the encoder is the models'; confidence set; the real e5 path (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.models import Document
from corpus.push.audience_model import HAND_FEATURES, AudienceModel
from corpus.push.confidence import CONFIDENCE_FEATURES, ConfidenceModel
from corpus.push.learned import RESOURCES, LearnedLabeller, learned_labeller
from corpus.push.taxonomy import TOPICS, Audience
from corpus.push.topics import N_RULE_FEATURES, TopicModel
from index.encoders import FakeEncoder

DOC = Document(
    id="d", title="济南市居民临时救助办法", text="本市行政区域内居民可以申请临时救助。困难家庭应当提交申请。"
)


def _models(enc: FakeEncoder, audience_bias: tuple[float, float]) -> tuple[TopicModel, AudienceModel, ConfidenceModel]:
    topics = TopicModel(
        np.zeros((len(TOPICS), 3 * enc.dim + N_RULE_FEATURES), np.float32),
        np.where(np.array(TOPICS) == "社会救助", 3.0, -3.0).astype(np.float32),
        info={"encoder": enc.name},
    )
    audience = AudienceModel(np.zeros((2, len(HAND_FEATURES)), np.float32), np.array(audience_bias, np.float32))
    audience = AudienceModel(audience.weights, audience.bias, info={"encoder": enc.name})
    confidence = ConfidenceModel(np.zeros(len(CONFIDENCE_FEATURES), np.float32), 1.0)
    return topics, audience, confidence


def test_shipped_models_fall_back_with_the_fake_encoder_or_none() -> None:
    assert learned_labeller(None) is None
    assert learned_labeller(FakeEncoder(dim=64)) is None  # not the e5 the models were trained with


def test_missing_artifacts_fall_back(tmp_path) -> None:
    assert learned_labeller(FakeEncoder(dim=64), resources=tmp_path) is None


def test_learned_labeller_uses_both_models_and_sets_the_confidence(tmp_path) -> None:
    enc = FakeEncoder(dim=16)
    topics, audience, confidence = _models(enc, (4.0, -4.0))  # residents yes, enterprises no
    for m, stem in ((topics, "push_topics"), (audience, "push_audience")):
        m.save(tmp_path / stem)
    confidence.save(tmp_path / "push_confidence")
    label = learned_labeller(enc, resources=tmp_path, today="2026-11-29")
    assert isinstance(label, LearnedLabeller)
    t = label(DOC)
    assert t.audience == (Audience.RESIDENT,)
    assert t.topics[0] == "社会救助"
    assert t.confidence == pytest.approx(1 / (1 + np.exp(-1.0)))  # zero weights: sigmoid(bias)
    nobody = LearnedLabeller(*_models(enc, (-4.0, -4.0)), enc)(DOC)
    assert (nobody.audience, nobody.groups) == ((), ())


def test_labeller_rejects_another_encoder() -> None:
    with pytest.raises(ValueError, match="trained on encoder"):
        LearnedLabeller(*_models(FakeEncoder(dim=16), (0.0, 0.0)), FakeEncoder(dim=32))


@pytest.mark.slow
@pytest.mark.shared
def test_real_encoder_labels_a_push_dev_document(shared_dir) -> None:
    """With the e5 the shipped models were trained on, a push-dev document gets learned labels and a confidence."""
    import json

    from eval.push import load_push_set
    from index.encoders import load_encoder

    info = json.loads((RESOURCES / "push_audience.json").read_text(encoding="utf-8"))["info"]
    try:
        enc = load_encoder("onnx")
    except FileNotFoundError as exc:
        pytest.skip(f"e5 model not available: {exc}")
    assert enc.name == info["encoder"]
    label = learned_labeller(enc, today="2026-11-29")
    assert isinstance(label, LearnedLabeller)
    data = load_push_set(shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl")
    doc_id = "mirrorcn-00110"  # 义务教育阶段新生入学管理: residents (students and parents)
    t = label(data.docs[doc_id])
    assert Audience.RESIDENT in t.audience
    assert "教育" in t.topics
    assert t.confidence is not None and 0.0 <= t.confidence <= 1.0
    from corpus.push.learned import shipped_match_model

    assert set(t.probabilities) == {"audience", "topics", "groups"} and set(t.groups) <= set(t.probabilities["groups"])
    floor = shipped_match_model().floor(t)  # what the review gate compares with the calibrated threshold
    assert floor is not None and 0.0 < floor < 1.0


def test_learned_labeller_decides_groups_with_the_group_model_and_records_probabilities(tmp_path) -> None:
    from corpus.push.group_model import GROUP_FEATURES, GroupModel

    enc = FakeEncoder(dim=16)
    topics, audience, confidence = _models(enc, (4.0, -4.0))
    for m, stem in ((topics, "push_topics"), (audience, "push_audience")):
        m.save(tmp_path / stem)
    confidence.save(tmp_path / "push_confidence")
    w = np.zeros(len(GROUP_FEATURES), np.float32)
    GroupModel(w, 3.0, 0.5).save(tmp_path / "push_groups")  # every candidate group is addressed (p 0.95)
    t = learned_labeller(enc, resources=tmp_path, today="2026-11-29")(DOC)
    assert t.groups == ("困难群众",) and t.evidence["困难群众"] in DOC.text
    assert t.probabilities["groups"]["困难群众"] == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-6)
    assert t.probabilities["audience"]["resident"] > 0.9 and t.probabilities["topics"]["社会救助"] > 0.9
    GroupModel(w, -3.0, 0.5).save(tmp_path / "push_groups")
    from corpus.push.learned import shipped_group_model

    shipped_group_model.cache_clear()
    assert learned_labeller(enc, resources=tmp_path, today="2026-11-29")(DOC).groups == ()  # mentioned only
