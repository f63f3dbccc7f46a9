"""The learned audience model: validation, round trip, features, behaviour with a fake encoder, labeller hook."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.models import Document
from corpus.push.audience_model import (
    HAND_FEATURES,
    SIDES,
    AudienceModel,
    audience_features,
    audience_matrix,
    hand_features,
    train_audience_model,
)
from corpus.push.labels import label_document
from corpus.push.taxonomy import Audience
from corpus.push.topics import embedding_features
from index.encoders import FakeEncoder

RES, ENT = Audience.RESIDENT, Audience.ENTERPRISE
N = len(HAND_FEATURES)


def _model(**kw) -> AudienceModel:
    args = {"weights": np.zeros((2, N), np.float32), "bias": np.zeros(2, np.float32)}
    return AudienceModel(**{**args, **kw})


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"threshold": 1.0}, "threshold must be in"),
        ({"bias": np.zeros(3, np.float32)}, "bias must be"),
        ({"weights": np.zeros((2, N + 1), np.float32)}, "weights must be"),
        ({"embedding_dim": 8}, "weights must be"),
    ],
)
def test_model_validation(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _model(**kw)


def test_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(1)
    m = _model(weights=rng.normal(size=(2, N + 4)).astype(np.float32), embedding_dim=4, threshold=0.4, info={"C": 0.1})
    js, npy = m.save(tmp_path / "m" / "aud")
    back = AudienceModel.load(tmp_path / "m" / "aud")
    np.testing.assert_array_equal(back.weights, m.weights)
    assert (back.embedding_dim, back.threshold, back.info) == (4, 0.4, {"C": 0.1})
    x = rng.normal(size=(3, N + 4))
    np.testing.assert_allclose(back.predict_proba(x), m.predict_proba(x), rtol=1e-6)
    assert js.suffix == ".json" and npy.suffix == ".npy" and not list((tmp_path / "m").glob("*.tmp*"))
    with pytest.raises(FileNotFoundError, match="audience model file not found"):
        AudienceModel.load(tmp_path / "nope")


def test_decode_uses_the_threshold_per_side() -> None:
    m = _model(threshold=0.4)
    assert m.decode(np.array([[0.9, 0.1], [0.45, 0.41], [0.2, 0.3]])) == [(RES,), (RES, ENT), ()]
    assert audience_matrix([(ENT,), (), (RES, ENT)]).tolist() == [[0, 1], [0, 0], [1, 1]]
    assert SIDES == (RES, ENT)


def _doc(i: str, title: str, text: str) -> Document:
    return Document(id=i, title=title, text=text)


GOV = (
    "各区县人民政府，市政府各部门：\n现将有关事项通知如下。"
    "各级人民政府要加强督查考核，财政部门统筹资金，主管部门做好部署。"
)
FIRM = "各企业、各有关单位：\n企业可以申请稳岗补贴，用人单位应当按时缴纳社会保险费，符合条件的企业给予减免。"
CITIZEN = "广大市民：\n居民可以申请临时救助，困难家庭应当提交申请，市民凭身份证办理，享受免费体检。"


def test_hand_features_read_the_addressee_line() -> None:
    f = dict(zip(HAND_FEATURES, hand_features(_doc("g", "关于加强督查工作的通知", GOV)), strict=True))
    assert (f["addressee"], f["addressee_gov"], f["addressee_ent"], f["addressee_res"]) == (1, 1, 0, 0)
    assert f["t_notice"] == 1 and f["log_gov"] > 1
    f = dict(zip(HAND_FEATURES, hand_features(_doc("e", "稳岗补贴办法", FIRM)), strict=True))
    assert (f["addressee_gov"], f["addressee_ent"], f["rule_ent"]) == (0, 1, 1)
    f = dict(zip(HAND_FEATURES, hand_features(_doc("r", "临时救助办法", CITIZEN)), strict=True))
    assert (f["addressee_res"], f["rule_res"]) == (1, 1)


def test_fake_encoder_model_learns_the_three_kinds_of_notice() -> None:
    docs, gold = [], []
    for k in range(4):
        docs += [
            _doc(f"g{k}", f"关于加强第{k}季度督查工作的通知", GOV),
            _doc(f"e{k}", f"企业稳岗补贴办法（第{k}批）", FIRM),
            _doc(f"r{k}", f"居民临时救助办法（第{k}次修订）", CITIZEN),
        ]
        gold += [(), (ENT,), (RES,)]
    enc = FakeEncoder(dim=32)
    x = audience_features(docs, embedding_features(docs, enc))
    folds = np.arange(len(docs)) % 3 // 1 % 2  # both folds hold every kind
    model, oof = train_audience_model(x, audience_matrix(gold), folds, embedding_dim=3 * 32, cs=(1.0,))
    assert oof.shape == (12, 2) and model.info["C"] == 1.0
    new = [
        _doc("q1", "关于做好督查考核工作的通知", GOV),
        _doc("q2", "企业用工补贴办法", FIRM),
        _doc("q3", "城乡居民救助办法", CITIZEN),
    ]
    got = model.decode(model.predict_proba(audience_features(new, embedding_features(new, enc))))
    assert got == [(), (ENT,), (RES,)]


class _Fixed:
    def __init__(self, audience: tuple[Audience, ...]) -> None:
        self.audience = audience

    def predict(self, doc: Document) -> tuple[Audience, ...]:
        return self.audience


def test_labeller_hook_has_the_last_word_on_the_audience() -> None:
    doc = _doc(
        "f",
        "小微企业和高校毕业生就业补贴办法",
        "吸纳高校毕业生就业的小微企业，可以申请社保补贴。高校毕业生可以申请就业补贴。",
    )
    rules = label_document(doc, today="2026-11-29")
    assert set(rules.audience) == {RES, ENT} and {"高校毕业生", "中小微企业"} <= set(rules.groups)
    residents = label_document(doc, today="2026-11-29", audience_predictor=_Fixed((RES,)))
    assert residents.audience == (RES,) and "中小微企业" not in residents.groups and "高校毕业生" in residents.groups
    nobody = label_document(doc, today="2026-11-29", audience_predictor=_Fixed(()))
    assert (nobody.audience, nobody.groups) == ((), ())
