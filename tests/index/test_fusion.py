import numpy as np
import pytest

from index import fusion


def test_rrf_by_hand():
    # Three candidates. Lexical ranks: a=1, b=2, c not retrieved. Dense ranks: c=1, a=2, b=3.
    lex = np.array([1, 2, 0])
    den = np.array([2, 3, 1])
    got = fusion.rrf([lex, den], [0.5, 0.5], k=60)
    expect = [0.5 / 61 + 0.5 / 62, 0.5 / 62 + 0.5 / 63, 0.5 / 61]
    np.testing.assert_allclose(got, expect)
    assert list(np.argsort(-got)) == [0, 1, 2]


def test_convex_normalises_each_side():
    lex = np.array([10.0, 5.0, 0.0])  # minmax -> 1, .5, 0
    den = np.array([0.80, 0.90, 0.85])  # minmax -> 0, 1, .5
    np.testing.assert_allclose(fusion.convex(lex, den, 0.7), [0.7, 0.35 + 0.3, 0.15])


def test_minmax_constant_and_empty():
    np.testing.assert_array_equal(fusion.minmax(np.array([3.0, 3.0])), [1.0, 1.0])
    assert fusion.minmax(np.array([])).size == 0


def test_ranks_descending():
    np.testing.assert_array_equal(fusion.ranks(np.array([0.1, 0.9, 0.5])), [3, 1, 2])


def test_bad_arguments():
    with pytest.raises(ValueError, match="lexical_weight"):
        fusion.convex(np.ones(2), np.ones(2), 1.5)
    with pytest.raises(ValueError, match="2 rankings but 1 weights"):
        fusion.rrf([np.ones(2), np.ones(2)], [1.0])
