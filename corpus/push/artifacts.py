"""Shipped model files: a JSON of metadata beside an NPY of weights, written atomically, no pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def save_artifact(stem: str | Path, meta: dict[str, Any], weights: np.ndarray) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.npy`; each lands by rename, the weights first."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    js, npy = stem.with_suffix(".json"), stem.with_suffix(".npy")
    tmp_npy = npy.with_name(npy.stem + ".tmp.npy")
    np.save(tmp_npy, weights.astype(np.float32), allow_pickle=False)
    tmp_json = js.with_suffix(".json.tmp")
    tmp_json.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp_npy.replace(npy)
    tmp_json.replace(js)
    return js, npy


def load_artifact(stem: str | Path, what: str, format_version: int) -> tuple[dict[str, Any], np.ndarray, Path]:
    """(metadata, float32 weights, json path) of a saved model; names the missing file or the wrong version."""
    stem = Path(stem)
    js, npy = stem.with_suffix(".json"), stem.with_suffix(".npy")
    for p in (js, npy):
        if not p.is_file():
            raise FileNotFoundError(f"{what} file not found: {p}")
    meta = json.loads(js.read_text(encoding="utf-8"))
    if meta.get("format_version") != format_version:
        raise ValueError(f"{js}: format_version {meta.get('format_version')}, expected {format_version}")
    return meta, np.load(npy, allow_pickle=False).astype(np.float32), js
