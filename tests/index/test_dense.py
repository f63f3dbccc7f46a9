import numpy as np
import pytest

from index.dense import DenseIndex, EmbeddingCache


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_search_matches_numpy():
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 500, 32)
    idx = DenseIndex(32)
    idx.add(vecs)
    q = vecs[7] + 0.1 * _unit(rng, 1, 32)[0]
    rows, scores = idx.search(q, 10, np.ones(500, dtype=bool))
    ref = np.argsort(-(vecs @ q))[:10]
    np.testing.assert_array_equal(rows, ref)
    assert not idx.is_approximate


def test_hnsw_recall_against_exact():
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 6000, 48)
    ann = DenseIndex(48, ann_threshold=5000)
    ann.add(vecs[:3000])
    ann.add(vecs[3000:])  # crosses the threshold: switches to HNSW
    assert ann.is_approximate
    queries = _unit(rng, 100, 48)
    mask = np.ones(6000, dtype=bool)
    recall = []
    for q in queries:
        rows, _ = ann.search(q, 10, mask)
        truth = set(np.argsort(-(vecs @ q))[:10])
        recall.append(len(truth & set(rows.tolist())) / 10)
    assert np.mean(recall) >= 0.98


@pytest.mark.parametrize("threshold", [10_000, 100])
def test_mask_excludes_rows(threshold):
    rng = np.random.default_rng(2)
    vecs = _unit(rng, 400, 16)
    idx = DenseIndex(16, ann_threshold=threshold)
    idx.add(vecs)
    mask = np.ones(400, dtype=bool)
    mask[::2] = False  # removed rows
    for q in vecs[:20]:
        rows, _ = idx.search(q, 5, mask)
        assert mask[rows].all()
    only = np.zeros(400, dtype=bool)
    only[[3, 5]] = True
    rows, _ = idx.search(vecs[3], 10, only)
    assert rows.tolist() == [3, 5]


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 300, 16)
    for threshold in (10_000, 200):
        idx = DenseIndex(16, ann_threshold=threshold)
        idx.add(vecs)
        idx.save(tmp_path / str(threshold))
        back = DenseIndex.load(tmp_path / str(threshold))
        assert back.is_approximate == idx.is_approximate
        m = np.ones(300, dtype=bool)
        np.testing.assert_array_equal(back.search(vecs[0], 5, m)[0], idx.search(vecs[0], 5, m)[0])


def test_wrong_shape():
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        DenseIndex(8).add(np.ones((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="dim must be"):
        DenseIndex(0)


def test_embedding_cache_encodes_each_text_once(tmp_path):
    calls: list[str] = []

    def enc(texts):
        calls.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = EmbeddingCache(tmp_path, "fake", 2)
    a = cache.encode(["甲", "乙乙"], enc)
    cache.save()
    again = EmbeddingCache(tmp_path, "fake", 2)
    b = again.encode(["乙乙", "丙丙丙"], enc)
    assert calls == ["甲", "乙乙", "丙丙丙"]
    np.testing.assert_array_equal(b[0], a[1])
    # Keys include the model name: another encoder never reuses these vectors.
    other = EmbeddingCache(tmp_path, "other-model", 2)
    other.encode(["甲"], enc)
    assert calls[-1] == "甲"


def test_embedding_cache_duplicates_and_periodic_saves(tmp_path, monkeypatch):
    monkeypatch.setattr("index.dense.SAVE_EVERY", 2)
    calls: list[str] = []

    def enc(texts):
        calls.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = EmbeddingCache(tmp_path, "fake", 2)
    texts = ["同一段文字", "另一段", "同一段文字", "第三段文字内容"]
    out = cache.encode(texts, enc, batch=2)
    assert calls == ["同一段文字", "另一段", "第三段文字内容"]
    np.testing.assert_array_equal(out[0], out[2])
    # Saved after every 2 new vectors: a run killed now would keep the first batch.
    assert len(EmbeddingCache(tmp_path, "fake", 2)) == 2
    cache.save()
    assert len(EmbeddingCache(tmp_path, "fake", 2)) == 3
