"""Markdown views of the JSON results (metrics.json, comparison.json); no computation here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

METRIC_ORDER: tuple[str, ...] = (
    "ndcg@10",
    "mrr@10",
    "recall@1",
    "recall@5",
    "recall@10",
    "recall@100",
    "answer_hit@1",
    "answer_hit@5",
    "answer_hit@10",
)


def _metric_names(all_metrics: Sequence[Mapping[str, Any]]) -> list[str]:
    present = {k for m in all_metrics for k in m}
    return [k for k in METRIC_ORDER if k in present]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _cell(text: str, limit: int = 60) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evaluation_markdown(m: Mapping[str, Any]) -> str:
    """One configuration: metric table plus counts and latency."""
    names = _metric_names([m])
    lat = m.get("latency_ms", {})
    lines = [
        f"# {m.get('name', '')} on {m.get('dataset') or 'query set'}",
        "",
        *_table(["metric", "value"], [[n, f"{m[n]:.4f}"] for n in names]),
        "",
        f"- queries: {m['n_queries']} ({m['n_judged']} judged, {m['n_unjudged']} unjudged left out of "
        f"retrieval metrics; {m['n_answers']} with an answer span; {m.get('n_errors', 0)} rejected)",
        f"- latency per query: p50 {lat.get('p50', 0):.1f} ms, p95 {lat.get('p95', 0):.1f} ms",
        f"- judged on: {m.get('judged_on', 'document')} ids",
        f"- config: `{m.get('config', {})}`",
        "",
    ]
    return "\n".join(lines)


def comparison_markdown(c: Mapping[str, Any]) -> str:
    """Configurations side by side, then per-query wins/losses against the baseline."""
    configs: Mapping[str, Mapping[str, Any]] = c["configs"]
    names = _metric_names([v["metrics"] for v in configs.values()])
    header = ["config", *names, "p50 ms", "p95 ms"]
    rows = [
        [
            name,
            *(f"{v['metrics'][n]:.4f}" if n in v["metrics"] else "-" for n in names),
            f"{v['latency_ms']['p50']:.1f}",
            f"{v['latency_ms']['p95']:.1f}",
        ]
        for name, v in configs.items()
    ]
    lines = [f"# Comparison on {c.get('dataset') or 'query set'}", "", *_table(header, rows), ""]
    for name, wl in c.get("vs_baseline", {}).items():
        lines += [
            f"## {name} vs {wl['baseline']} ({wl['metric']})",
            "",
            f"wins {wl['wins']}, losses {wl['losses']}, ties {wl['ties']}",
            "",
        ]
        for title, key in (("Biggest wins", "top_wins"), ("Biggest losses", "top_losses")):
            if not wl[key]:
                continue
            lines += [f"### {title}", ""]
            lines += _table(
                ["query", "text", wl["baseline"], name, "delta"],
                [
                    [d["query_id"], _cell(d["text"]), f"{d['baseline']:.3f}", f"{d['value']:.3f}", f"{d['delta']:+.3f}"]
                    for d in wl[key]
                ],
            )
            lines.append("")
    return "\n".join(lines)
