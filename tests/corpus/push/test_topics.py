"""The learned push topic model: validation, JSON/NPY round trip, behaviour with a fake encoder, labeller hook."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.models import Document
from corpus.push.labels import label_document
from corpus.push.taxonomy import TOPICS
from corpus.push.topics import (
    N_RULE_FEATURES,
    TopicClassifier,
    TopicModel,
    document_features,
    fit_logreg,
    fit_prototypes,
    train_topic_model,
)
from index.encoders import FakeEncoder


def _model(**kw) -> TopicModel:
    args = {"weights": np.zeros((len(TOPICS), 4), np.float32), "bias": np.zeros(len(TOPICS), np.float32)}
    return TopicModel(**{**args, **kw})


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"threshold": 0.0}, "threshold must be in"),
        ({"head": "svm"}, "head must be one of"),
        ({"max_topics": 0}, "max_topics must be"),
        ({"bias": np.zeros(3, np.float32)}, "bias must be"),
        ({"weights": np.zeros((3, 4), np.float32)}, "weights must be"),
    ],
)
def test_model_validation(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _model(**kw)


def test_decode_keeps_the_top_topic_and_others_over_the_threshold() -> None:
    m = _model(threshold=0.4)
    probs = np.zeros((2, len(TOPICS)))
    probs[0, [3, 5, 7, 9]] = [0.9, 0.5, 0.45, 0.41]  # top plus two more: at most three
    probs[1, [0, 1]] = [0.2, 0.1]  # nothing reaches 0.4: the top one alone
    rows = m.decode(probs)
    assert [t for t, _ in rows[0]] == [TOPICS[3], TOPICS[5], TOPICS[7]]
    assert [t for t, _ in rows[1]] == [TOPICS[0]]
    assert rows[1][0][1] == pytest.approx(0.2)


def test_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(3)
    m = _model(weights=rng.normal(size=(len(TOPICS), 6)).astype(np.float32), threshold=0.35, info={"C": 3.0})
    js, npy = m.save(tmp_path / "m" / "topics")
    assert js.name == "topics.json" and npy.name == "topics.npy"
    back = TopicModel.load(tmp_path / "m" / "topics")
    np.testing.assert_array_equal(back.weights, m.weights)
    np.testing.assert_array_equal(back.bias, m.bias)
    assert (back.threshold, back.head, back.topics, back.info) == (0.35, "logreg", TOPICS, {"C": 3.0})
    x = rng.normal(size=(2, 6))
    np.testing.assert_allclose(back.predict_proba(x), m.predict_proba(x), rtol=1e-6)
    assert not list((tmp_path / "m").glob("*.tmp*"))


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="topic model file not found"):
        TopicModel.load(tmp_path / "nope")


EDU = ["学校招生入学工作通知", "义务教育学校教师管理办法", "中小学学生入学报名须知", "高中学校招生考试工作方案"]
TRAFFIC = ["城市道路交通停车管理规定", "机动车道路通行管理办法", "公交车辆客运出行服务规定", "道路交通车辆停车收费标准"]


def _docs(titles: list[str], prefix: str) -> list[Document]:
    return [Document(id=f"{prefix}{i}", title=t, text=t + "。本通知自发布之日起施行。") for i, t in enumerate(titles)]


@pytest.mark.parametrize("head", ["logreg", "prototype"])
def test_fake_encoder_separates_two_topics(head: str) -> None:
    enc = FakeEncoder(dim=64)
    docs = _docs(EDU, "e") + _docs(TRAFFIC, "t")
    x = document_features(docs, enc)
    assert x.shape == (8, 3 * 64 + N_RULE_FEATURES)
    y = np.zeros((8, len(TOPICS)), np.int8)
    y[:4, TOPICS.index("教育")] = 1
    y[4:, TOPICS.index("交通出行")] = 1
    folds = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    model = train_topic_model(x, y, folds, head=head)
    clf = TopicClassifier(model, enc)
    assert clf.predict(Document(id="q1", title="小学学生入学招生办法", text="学校招生入学。"))[0] == "教育"
    assert clf.predict(Document(id="q2", title="道路机动车停车规定", text="车辆停车通行。"))[0] == "交通出行"
    p = dict(clf.predict_scored(Document(id="q3", title="学校招生", text="学生入学。")))
    assert 0.0 < p["教育"] < 1.0


def test_topics_without_positives_get_no_probability() -> None:
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    y = np.zeros((6, len(TOPICS)), np.int8)
    y[:3, 0] = 1
    for m in (fit_logreg(x, y), fit_prototypes(x, y)):
        assert m.predict_proba(x)[:, 1:].max() < 1e-3


def test_classifier_rejects_a_different_encoder() -> None:
    m = _model(weights=np.zeros((len(TOPICS), 3 * 64 + N_RULE_FEATURES), np.float32), info={"encoder": "e5"})
    with pytest.raises(ValueError, match="trained on encoder"):
        TopicClassifier(m, FakeEncoder(dim=64))
    with pytest.raises(ValueError, match="features"):
        TopicClassifier(_model(), FakeEncoder(dim=64))


class _Fixed:
    def predict(self, doc: Document) -> tuple[str, ...]:
        return ("教育",)


def test_labeller_hook_replaces_rule_topics_and_keeps_group_topics() -> None:
    doc = Document(id="f", title="农民种粮补贴办法", text="对种粮农民给予补贴，农户可以申请种粮补贴。")
    rules = label_document(doc, today="2026-11-29")
    hooked = label_document(doc, today="2026-11-29", topic_predictor=_Fixed())
    assert "农民" in rules.groups
    assert hooked.topics == ("教育", "农业农村")  # 农民 implies 农业农村 (GUIDE), as with the rules
    assert (hooked.audience, hooked.groups) == (rules.audience, rules.groups)
