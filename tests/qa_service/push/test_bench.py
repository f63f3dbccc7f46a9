"""`python -m qa_service.push bench` at small scale, on SQLite and PostgreSQL: it writes every key, the
city-wide plan writes the same rows on both backends, and every webhook message reaches the loopback
receiver exactly once (signature checked), with 1 and 4 workers. Timings are printed, never asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.push import synthetic
from corpus.push.matching import match
from qa_service.push import bench


@pytest.fixture
def data(shared_dir) -> tuple[Path, Path]:
    """(push-dev gold labels, Jinan streets): what `python -m eval bench-push` passes on."""
    return (
        shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl",
        shared_dir / "data" / "regions" / "jinan_streets.csv",
    )


def _args(data: tuple[Path, Path]) -> list[str]:
    return ["--labels", str(data[0]), "--streets", str(data[1])]


def test_bench_plans_and_delivers_exactly_once_on_both_backends(temp_postgres, data, tmp_path, capsys):
    out = tmp_path / "b"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"matvec_ms_median": 1.5, "profiles": 2000}), encoding="utf-8")
    argv = ["--profiles", "2000", "--messages", "200", "--out", str(out), "--pg-url", temp_postgres.url("postgres")]
    assert bench.main(argv + _args(data)) == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["matvec_ms_median"] == 1.5  # merged into the eval half's file, not replacing it
    assert m["store_profiles"] == 2000 and m["postgres_unavailable"] is None

    cols = synthetic.profile_columns(2000, 20261201, synthetic.read_targetings(data[0], 100), data[1])
    want = sum(match(p, synthetic.CITYWIDE) is not None for p in synthetic.profiles_of(cols))
    assert m["plan_matches"] == want > 0  # the columnar matcher's matches are the reference's
    # inbox for everyone, plus e-mail or SMS for 3 in 10: one row per match and channel, the same on both
    assert want < m["plan_outbox_sqlite_rows"] == m["plan_outbox_postgres_rows"] < 1.5 * want
    for b in ("sqlite", "postgres"):
        for k in (f"plan_outbox_{b}_s", f"plan_outbox_{b}_rows_per_s", f"plan_{b}_enqueue_s", f"load_profiles_{b}_s"):
            assert m[k] is not None, k
        for w in ("1_worker", "4_workers"):
            assert m[f"deliver_{b}_{w}_exactly_once"] is True, (b, w)
            assert m[f"deliver_{b}_{w}_received"] == 200, (b, w)
            assert m[f"deliver_{b}_{w}_per_s"] is not None
    assert m["deliver_messages"] == 200 and m["deliver_reference_post_per_s"] is not None
    printed = capsys.readouterr().out
    assert "sqlite" in printed and "postgres" in printed and "each message exactly once" in printed
    assert "bare fp32 matvec 1.5 ms" in printed  # the reference of the same run, when eval wrote it


def test_without_postgres_the_keys_are_null_with_the_reason(data, tmp_path, capsys):
    argv = ["--profiles", "300", "--messages", "20", "--workers", "1", "--out", str(tmp_path),
            "--pg-bin", str(tmp_path / "no-such-bin")]  # fmt: skip
    assert bench.main(argv + _args(data)) == 0
    m = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert "not installed" in m["postgres_unavailable"]
    assert m["plan_outbox_postgres_s"] is None and m["deliver_postgres_1_worker_per_s"] is None
    assert m["plan_outbox_sqlite_rows"] > 0 and m["deliver_sqlite_1_worker_exactly_once"] is True
    assert "postgres: PostgreSQL is not installed" in capsys.readouterr().out


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert bench.main(["--profiles", "0", "--out", str(tmp_path)]) == 2
    assert "must be >= 1" in capsys.readouterr().err
