"""`python -m eval bench-push` on a few thousand generated profiles: the metrics file has its keys and sane values;
the store's half (`python -m qa_service.push bench`) runs in a subprocess and merges into the same file."""

from __future__ import annotations

import json

from corpus.push.synthetic import profile_columns, profiles_of
from eval.__main__ import main
from eval.bench_push import STORE_KEYS


def test_bench_push_writes_sane_metrics(shared_dir, tmp_path, capsys):
    labels = shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl"
    rc = main(["bench-push", "--profiles", "2000", "--docs", "40", "--dim", "64", "--labels", str(labels),
               "--out", str(tmp_path / "b"), "--no-store"])  # fmt: skip
    assert rc == 0
    m = json.loads((tmp_path / "b" / "metrics.json").read_text(encoding="utf-8"))
    assert m["profiles"] == 2000 and m["documents"] == 40 and m["dim"] == 64
    for key in ("match_ms_median", "matvec_ms_median", "matcher_nbytes_mb", "build_s", "reasons_ms_median"):
        assert m[key] > 0, key
    assert m["matcher_peak_mb"] >= 0  # an RSS delta: at 2,000 profiles the build may fit in pages already mapped
    assert 0 <= m["matches_median"] <= m["matches_max"] <= 2000
    assert m["matches_max"] > 0  # the generated district reaches some of the labelled documents
    assert 0 < m["citywide_matches"] < 2000  # a 济南 document reaches the city's residents, not everyone
    assert m["reference_checked_profiles"] == 2000 and m["reference_mismatches"] == 0
    assert all(m[k] is None for k in STORE_KEYS)
    out = capsys.readouterr().out
    assert "2,000 profiles" in out and "skipped (--no-store)" in out


def test_the_store_half_runs_in_a_subprocess_and_merges_its_keys(shared_dir, tmp_path, capfd):
    labels = shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl"
    rc = main(["bench-push", "--profiles", "1000", "--docs", "10", "--dim", "16", "--labels", str(labels),
               "--messages", "30", "--no-postgres", "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    m = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert m["profiles"] == m["store_profiles"] == 1000 and m["matvec_ms_median"] > 0  # both halves, one file
    assert m["citywide_matches"] == m["plan_matches"]  # the same generated profiles on both sides
    assert all(m[k] is not None for k in STORE_KEYS if "_sqlite_" in k)
    assert all(m[k] is None for k in STORE_KEYS if "_postgres_" in k) and "--no-postgres" in m["postgres_unavailable"]
    assert m["deliver_sqlite_1_worker_exactly_once"] and m["deliver_sqlite_4_workers_exactly_once"]
    out = capfd.readouterr().out
    assert "1,000 profiles" in out and "plan-to-outbox" in out and "each message exactly once" in out


def test_generated_profiles_have_a_district_mix(shared_dir):
    streets = shared_dir / "data" / "regions" / "jinan_streets.csv"
    cols = profile_columns(5000, 1, [], streets)
    profiles = list(profiles_of(cols))
    assert len({p.profile_id for p in profiles}) == 5000
    licheng = sum(p.district == "历城区" for p in profiles) / 5000
    assert 0.75 < licheng < 0.85
    assert len({p.street for p in profiles if p.district == "历城区"}) == 17
    assert 0.05 < sum(p.kind.value == "enterprise" for p in profiles) / 5000 < 0.11
    assert all(p.groups or p.topics for p in profiles)


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["bench-push", "--profiles", "0", "--out", str(tmp_path)]) == 2
    assert "must be >= 1" in capsys.readouterr().err
    assert (
        main(["bench-push", "--profiles", "10", "--labels", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)]) == 2
    )
    assert "no labelled documents" in capsys.readouterr().err
