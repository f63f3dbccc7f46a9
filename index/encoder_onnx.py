"""Fast index-time encoding: a sentence-transformers folder exported to ONNX, int8 weights.

`export_onnx` runs once at set-up (`python -m index.e5_convert --onnx`) and writes
`<model_dir>/onnx/model_qint8.onnx`: the transformer plus the folder's own pooling and
normalisation in one graph, then MatMul weights quantised to int8 with dynamic
(per-batch) activation scales.

Where the time goes on two cores (profiled on 300-character passages, ~200 tokens):
attention and the element-wise ops, not the int8 GEMMs. So the export fuses attention
into MultiHeadAttention *without* a padding mask, which lets ONNX Runtime take its
flash-attention kernel, and leaves LayerNorm and GELU unfused (ONNX Runtime's fused
SkipLayerNormalization / BiasGelu CPU kernels are scalar loops, 3-6x slower than the
plain ops). Without a mask, padding would leak into attention, so `OnnxEncoder` only
ever runs batches of texts with exactly the same token count; a large corpus has
hundreds of passages per length, so batches stay full.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ONNX_SUBDIR = "onnx"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model_qint8.onnx"
EXPORT_META = "export.json"
# Bumped when the exported graph changes; an older export is rebuilt by `export_onnx`.
EXPORT_VERSION = 3
# FFN down-projections of these layers stay fp32: their inputs carry outlier activations that a
# per-batch int8 scale flattens (measured: with them int8 the resident-qa subset lost 0.011 nDCG@10,
# without them it matches fp32, at no measurable speed cost).
FP32_FFN_OUT_LAYERS = (0, 1)
# ONNX Runtime fusions whose CPU kernels are slower than the ops they replace (see module doc).
SLOW_FUSIONS = ("SkipLayerNormFusion", "BiasGeluFusion", "GeluFusion")


def onnx_path(model_dir: str | Path, quantized: bool = True) -> Path:
    return Path(model_dir) / ONNX_SUBDIR / (ONNX_INT8 if quantized else ONNX_FP32)


def export_onnx(model_dir: str | Path, *, force: bool = False, keep_fp32: bool = False, opset: int = 17) -> Path:
    """Export `model_dir` (a sentence-transformers folder) to int8 ONNX; return its path.

    `keep_fp32` also keeps the optimised fp32 graph (`OnnxEncoder(quantized=False)`), 470 MB for e5-small.

    Idempotent: skips if the int8 file of the current `EXPORT_VERSION` exists (unless
    `force`). Written to a temp dir and renamed into place.
    """
    try:
        import onnx
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ImportError(
            f"ONNX export needs onnx, onnxruntime, torch and sentence-transformers (pip install onnx): {e}"
        ) from e

    model_dir = Path(model_dir)
    target = onnx_path(model_dir)
    if target.is_file() and not force and export_version(model_dir) == EXPORT_VERSION:
        logger.info("%s exists, skipping export", target)
        return target

    # eager attention exports the classic pattern that ONNX Runtime fuses into one Attention op
    st = SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"attn_implementation": "eager"}).eval()

    class _Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.st({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    tmp = Path(tempfile.mkdtemp(prefix=".onnx.", dir=model_dir))
    try:
        fp32 = tmp / ONNX_FP32
        ids = torch.tensor([[0, 100, 200, 300, 2], [0, 100, 200, 2, 1]], dtype=torch.long)
        mask = (ids != 1).long()
        with torch.no_grad():
            torch.onnx.export(
                _Wrapper(),
                (ids, mask),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["sentence_embedding"],
                opset_version=opset,
                dynamo=False,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "sentence_embedding": {0: "batch"},
                },
            )
        optimized = _optimize(fp32, st)
        # fused nodes defeat the quantiser's shape inference; their outputs are all float
        quantize_dynamic(
            str(optimized),
            str(tmp / ONNX_INT8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=_ffn_out_matmuls(onnx.load(str(optimized), load_external_data=False)),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        if keep_fp32 and optimized != fp32:
            optimized.replace(fp32)
        for path in (fp32, optimized):
            if not keep_fp32 and path.exists():
                path.unlink()
        meta = {
            "version": EXPORT_VERSION,
            "source": str(model_dir),
            "opset": opset,
            "quantization": f"dynamic int8 MatMul, per channel; fp32 FFN output in layers {FP32_FFN_OUT_LAYERS}",
            "optimized": optimized != fp32,
            "attention": "MultiHeadAttention without padding mask: feed unpadded batches only",
        }
        (tmp / EXPORT_META).write_text(json.dumps(meta, indent=2))
        for stale in tmp.glob("*.data"):
            stale.unlink()
        tmp.chmod(0o755)
        final = model_dir / ONNX_SUBDIR
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def export_version(model_dir: str | Path) -> int:
    """The `EXPORT_VERSION` the model folder's ONNX export was written with (1 before versions existed)."""
    try:
        return int(json.loads((Path(model_dir) / ONNX_SUBDIR / EXPORT_META).read_text()).get("version", 1))
    except (OSError, ValueError, AttributeError):
        return 0


def _optimize(fp32: Path, st) -> Path:
    """Fuse attention into unmasked MultiHeadAttention with ONNX Runtime's optimiser when it applies."""
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        return fp32
    cfg = st[0].auto_model.config
    options = FusionOptions("bert")
    options.use_multi_head_attention = True
    # the fused LayerNorm / GELU kernels are the slow ones (module doc)
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False
    options.enable_gelu = options.enable_bias_gelu = False
    try:
        opt = optimize_model(
            str(fp32),
            model_type="bert",
            num_heads=cfg.num_attention_heads,
            hidden_size=cfg.hidden_size,
            opt_level=1,
            optimization_options=options,
        )
    except Exception as e:  # the optimiser is best-effort; the plain graph is still correct
        logger.warning("ONNX Runtime optimiser failed (%s); quantising the plain graph", e)
        return fp32
    logger.info("ONNX Runtime fused operators: %s", opt.get_fused_operator_statistics())
    unmasked = _drop_attention_masks(opt.model)
    logger.info("attention without padding mask in %d MultiHeadAttention nodes", unmasked)
    out = fp32.with_name("model_opt.onnx")
    opt.save_model_to_file(str(out))
    return out


def _ffn_out_matmuls(model) -> list[str]:
    """Names of the FFN output MatMuls of `FP32_FFN_OUT_LAYERS` (BERT-style names; none if they differ)."""
    pattern = re.compile(r"layer\.(\d+)/output/dense/MatMul$")
    return [
        n.name
        for n in model.graph.node
        if n.op_type == "MatMul" and (m := pattern.search(n.name)) and int(m.group(1)) in FP32_FFN_OUT_LAYERS
    ]


def _drop_attention_masks(model) -> int:
    """Remove the key-padding mask from MultiHeadAttention nodes, so ONNX Runtime uses flash attention.

    Only correct for unpadded batches, which is all `OnnxEncoder` runs. Returns nodes changed.
    """
    changed = 0
    for node in model.graph.node:
        if node.op_type != "MultiHeadAttention" or len(node.input) < 5 or not node.input[4]:
            continue
        inputs = list(node.input)
        inputs[4] = ""
        while inputs and not inputs[-1]:  # trailing optional inputs are dropped, not left empty
            inputs.pop()
        del node.input[:]
        node.input.extend(inputs)
        changed += 1
    return changed


class OnnxEncoder:
    """Encoder over an exported ONNX sentence-transformers model (default: the int8 one).

    `max_seq_length` bounds tokens per text (including specials); 300-character Chinese
    passages need about 160-260 XLM-R tokens, so the default 512 truncates nothing.
    Texts are run in batches of equal token count (no padding, see the module doc), at
    most `batch_size` each, spread over `threads` single-threaded runs.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        query_prefix: str = "query: ",
        passage_prefix: str = "passage: ",
        max_seq_length: int = 512,
        batch_size: int = 8,
        threads: int = 2,
        quantized: bool = True,
        name: str | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if max_seq_length < 8:
            raise ValueError(f"max_seq_length must be >= 8, got {max_seq_length}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        model_dir = Path(model_dir)
        path = onnx_path(model_dir, quantized)
        if not path.is_file():
            raise FileNotFoundError(
                f"no ONNX model at {path}; build it with `python -m index.e5_convert --out {model_dir} --onnx` "
                "(or `make model`)"
            )
        if export_version(model_dir) < EXPORT_VERSION:  # still correct: its graph keeps the padding mask
            logger.warning("%s is an older, slower export; `make model` rebuilds it", path)
        # One single-threaded run per worker thread, each on its own batch: a small model gains
        # little from intra-op parallelism, and its barriers stall badly on a busy machine.
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(SLOW_FUSIONS)
        )
        self._pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.no_truncation()
        self._max_len = max_seq_length
        self._batch = batch_size
        self._qp, self._pp = query_prefix, passage_prefix
        self.dim = int(self._session.get_outputs()[0].shape[-1] or self._probe_dim())
        # the export version is in the name, so cached vectors of an older graph are not reused
        version = export_version(model_dir)
        self.name = name or f"{model_dir.name}/onnx-{'int8' if quantized else 'fp32'}-v{version}"

    def _probe_dim(self) -> int:
        return int(self._run([self._tok.encode("a").ids]).shape[1])

    def _run(self, id_lists: list[list[int]]) -> np.ndarray:
        ids = np.array(id_lists, dtype=np.int64)  # equal lengths: a plain 2-D array, no padding
        return self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encs = self._tok.encode_batch([prefix + t.strip() for t in texts])
        id_lists = [_truncate(e.ids, self._max_len) for e in encs]
        chunks = equal_length_batches([len(x) for x in id_lists], self._batch)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        results = (self._pool.map if self._pool and len(chunks) > 1 else map)(
            lambda chunk: self._run([id_lists[i] for i in chunk]), chunks
        )
        for chunk, vecs in zip(chunks, results, strict=True):
            out[chunk] = vecs
        return _l2(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._qp)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._pp)


def equal_length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped by equal length, at most `batch_size` per group, longest groups first.

    Longest first so the slowest runs start early and the worker threads finish together.
    """
    by_length: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_length.setdefault(n, []).append(i)
    return [
        group[s : s + batch_size]
        for _, group in sorted(by_length.items(), reverse=True)
        for s in range(0, len(group), batch_size)
    ]


def _truncate(ids: list[int], max_len: int) -> list[int]:
    # keep the closing special token, as transformers' truncation does
    return ids if len(ids) <= max_len else [*ids[: max_len - 1], ids[-1]]


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
