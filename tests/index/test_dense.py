import logging

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
    idx = DenseIndex(8)
    idx.add(np.eye(8, dtype=np.float32))
    with pytest.raises(ValueError, match=r"mask must have shape \(8,\)"):
        idx.search(np.ones(8, dtype=np.float32), 3, np.ones(7, dtype=bool))


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


def _len_enc(calls):
    def enc(texts):
        calls.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    return enc


def _halve(f):
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


CACHE_DAMAGE = {
    "keys-random-bytes": ("keys.npy", lambda f: f.write_bytes(np.random.default_rng(0).bytes(200))),
    "keys-truncated": ("keys.npy", _halve),
    "keys-empty": ("keys.npy", lambda f: f.write_bytes(b"")),
    "keys-wrong-shape": ("keys.npy", lambda f: np.save(f, np.zeros((3, 8), dtype=np.uint8))),
    "vectors-truncated": ("vectors.npy", _halve),
    "vectors-other-dim": ("vectors.npy", lambda f: np.save(f, np.zeros((3, 5), dtype=np.float32))),
    "vectors-one-row-fewer": ("vectors.npy", lambda f: np.save(f, np.load(f)[:-1])),
    "vectors-missing": ("vectors.npy", lambda f: f.unlink()),
}


@pytest.mark.parametrize("name, damage", CACHE_DAMAGE.values(), ids=CACHE_DAMAGE.keys())
def test_damaged_embedding_cache_is_dropped_and_rebuilt(tmp_path, caplog, name, damage):
    texts = ["甲", "乙乙", "丙丙丙"]
    calls: list[str] = []
    first = EmbeddingCache(tmp_path, "fake", 2)
    expected = first.encode(texts, _len_enc(calls))
    first.save()
    damage(tmp_path / name)
    with caplog.at_level(logging.WARNING, logger="index.dense"):
        cache = EmbeddingCache(tmp_path, "fake", 2)
    assert len(cache) == 0
    assert any(name in r.getMessage() and str(tmp_path) in r.getMessage() for r in caplog.records), caplog.text
    calls.clear()
    np.testing.assert_array_equal(cache.encode(texts, _len_enc(calls)), expected)
    assert calls == texts  # everything re-encoded, nothing read from the damaged files
    cache.save()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="index.dense"):
        again = EmbeddingCache(tmp_path, "fake", 2)
    assert len(again) == 3 and not caplog.records


def _brute_force(vecs, q, k, mask):
    """The slow reference: numpy inner products over the allowed rows, best first."""
    rows = np.flatnonzero(mask)
    sims = vecs[rows] @ q
    order = np.argsort(-sims, kind="stable")[:k]
    return rows[order], sims[order]


@pytest.mark.parametrize("threshold", [100_000, 1000], ids=["flat", "hnsw-exact-fallback"])
@pytest.mark.parametrize("density", [0.002, 0.05, 0.5, 0.97, 1.0])
def test_masked_search_matches_brute_force(threshold, density):
    rng = np.random.default_rng(int(density * 1000))
    vecs = _unit(rng, 3000, 32)
    idx = DenseIndex(32, ann_threshold=threshold)
    idx.add(vecs)
    assert idx.is_approximate == (threshold == 1000)
    for trial in range(5):
        mask = rng.random(3000) < density
        if density == 1.0:
            mask[:] = True
        if idx.is_approximate and mask.all():
            continue  # HNSW over every row is approximate by design (recall test above)
        q = _unit(rng, 1, 32)[0]
        for k in (1, 10, 200, 5000):
            rows, scores = idx.search(q, k, mask)
            ref_rows, ref_scores = _brute_force(vecs, q, k, mask)
            assert rows.dtype == np.int64 and scores.dtype == np.float32
            assert len(rows) == len(ref_rows) == min(k, mask.sum()) and len(set(rows.tolist())) == len(rows)
            np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
            # Same rows in the same order; two rows may only trade places if their scores tie to 1e-5.
            assert mask[rows].all()
            swapped = rows != ref_rows
            truth = vecs @ q
            assert np.abs(truth[rows[swapped]] - truth[ref_rows[swapped]]).max(initial=0) < 1e-5, (trial, k)
        cand = rng.choice(3000, 150, replace=False)
        np.testing.assert_allclose(idx.scores_for(q, cand), vecs[cand] @ q, atol=1e-5)


@pytest.mark.parametrize("threshold", [100_000, 1000], ids=["flat", "hnsw-exact-fallback"])
def test_masked_search_does_not_copy_the_allowed_rows(threshold):
    # Gathering the allowed rows for a BLAS mat-vec copied up to 20k x dim floats per query and ran
    # multi-threaded BLAS inside every request thread; under concurrent load that thrashed (issue 8).
    import tracemalloc

    rng = np.random.default_rng(5)
    vecs = _unit(rng, 12_000, 64)
    idx = DenseIndex(64, ann_threshold=threshold)
    idx.add(vecs)
    mask = rng.random(12_000) < 0.7
    q = _unit(rng, 1, 64)[0]
    idx.search(q, 200, mask)
    tracemalloc.start()
    try:
        rows, _ = idx.search(q, 200, mask)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert mask[rows].all() and len(rows) == 200
    assert peak < vecs.nbytes / 20, f"a masked query allocated {peak} bytes; the vectors are {vecs.nbytes}"
