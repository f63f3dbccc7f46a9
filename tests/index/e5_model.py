"""Locate (or build once per session) the converted multilingual-e5-small folder for slow tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MODEL_DIR

_built: dict[str, Path] = {}


def e5_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<repo>/models/multilingual-e5-small` if `make model` built it, else a conversion in a pytest tmp dir."""
    from index.e5_convert import convert, is_converted
    from index.encoder_onnx import export_onnx, onnx_path

    if is_converted(MODEL_DIR) and onnx_path(MODEL_DIR).is_file():
        return MODEL_DIR
    if "dir" not in _built:
        out = convert(tmp_path_factory.mktemp("e5") / "multilingual-e5-small")
        export_onnx(out)
        _built["dir"] = out
    return _built["dir"]
