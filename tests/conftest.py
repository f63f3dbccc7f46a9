"""Shared fixtures: a tiny hand-written Chinese corpus and the location of ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.models import Document, Status

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


def tiny_docs() -> list[Document]:
    """Five short policies whose best match per query can be worked out by hand."""
    return [
        Document(
            id="emp",
            title="历城区高校毕业生就业补贴办法",
            doc_number="济历城政办字〔2025〕13号",
            issuer="济南市历城区人民政府办公室",
            publish_date="2025-07-09",
            status=Status.CURRENT,
            region="山东省济南市历城区",
            collection="demo",
            text="第一条 为促进高校毕业生就业，制定本办法。\n第二条 吸纳高校毕业生就业的小微企业，"
            "按每人每月500元给予社保补贴。\n第三条 高校毕业生灵活就业的，可申请灵活就业社保补贴。",
        ),
        Document(
            id="edu",
            title="历城区义务教育阶段学校招生入学工作实施意见",
            doc_number="济历城教发〔2025〕3号",
            issuer="济南市历城区教育和体育局",
            publish_date="2025-04-01",
            status=Status.CURRENT,
            region="山东省济南市历城区",
            collection="demo",
            text="一、招生对象\n适龄儿童按学区划分入学。\n二、报名材料\n报名需提供户口簿、房产证明和儿童出生证明。",
        ),
        Document(
            id="old",
            title="历城区老旧小区改造实施方案",
            doc_number="济历城政发〔2020〕8号",
            issuer="济南市历城区人民政府",
            publish_date="2020-03-01",
            status=Status.SUPERSEDED,
            region="山东省济南市历城区",
            collection="demo",
            text="一、改造范围\n2000年以前建成的老旧小区纳入改造范围。\n二、资金\n改造资金由区财政承担。",
        ),
        Document(
            id="new",
            title="历城区老旧小区改造实施方案（2024年修订）",
            doc_number="济历城政发〔2024〕2号",
            issuer="济南市历城区人民政府",
            publish_date="2024-02-01",
            status=Status.CURRENT,
            region="山东省济南市历城区",
            collection="demo",
            text="一、改造范围\n2005年以前建成的老旧小区纳入改造范围。\n二、资金\n改造资金由市区两级财政共同承担。",
        ),
        Document(
            id="tax",
            title="关于支持疫情防控物资生产企业的税收政策公告",
            doc_number="国税发〔2020〕1号",
            issuer="国家税务总局",
            publish_date="2020-02-01",
            status=Status.EXPIRED,
            region="全国",
            collection="ncp",
            text="对疫情防控重点物资生产企业扩大产能购置的设备，允许一次性计入当期成本费用在企业所得税税前扣除。",
        ),
    ]


@pytest.fixture()
def docs() -> list[Document]:
    return tiny_docs()


MODEL_DIR = REPO / "models" / "multilingual-e5-small"


@pytest.fixture(scope="session")
def real_encoder():
    """The converted e5-small model (int8 ONNX), as `make test` prepares it before running pytest."""
    from index.encoder_onnx import onnx_path
    from index.encoders import load_encoder

    if not onnx_path(MODEL_DIR).is_file():
        pytest.fail(f"the offline model is not converted at {MODEL_DIR}: run `make model` (make test does)")
    return load_encoder("onnx", MODEL_DIR)
