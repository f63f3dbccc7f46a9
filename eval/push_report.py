"""The markdown table of `python -m eval push --cv K`: before (rules) and after (shipped) per field, out of fold."""

from __future__ import annotations

from typing import Any

LABELS = {
    "rules": "rules (before)",
    "logreg": "rules + learned topics",
    "audience_hand": "rules groups + learned topics + learned audience",
    "groups_model": "learned groups + learned topics + learned audience",
}


def _ci(v: dict[str, Any], key: str) -> str:
    ci = v.get(f"{key}_ci95")
    return f"{v[key]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v[key]:.3f}"


def _opt(v: dict[str, Any], key: str) -> str:
    return f"{v[key]:.3f}" if isinstance(v.get(key), float) else "—"


def markdown_report(result: dict[str, Any]) -> str:
    """One row per labeller variant (the shipped one in bold), then the profile suggestions."""
    run = result.get("run", {})
    lines = [
        f"push labeller on `{run.get('labels')}`: {result['n_documents']} documents, "
        + (f"{run['cv']}-fold out of fold by document" if run.get("cv") else "as shipped (in sample)")
        + f", 95 % intervals from {run.get('bootstrap_draws')} document bootstrap draws; shipped: "
        f"`{result['labeller']}`",
        "",
        "| labeller | audience | jurisdiction | groups P | groups R | topics P | topics R | match P | match R "
        "| match F1 | auto_precision | auto_share |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v in result["variants"].items():
        label = LABELS.get(name, name)
        if name == result["labeller"]:
            label = f"**{label} (shipped)**"
        lines.append(
            f"| {label} | {v['audience_accuracy']:.3f} | {v['jurisdiction_accuracy']:.3f} "
            f"| {_ci(v, 'groups_precision')} | {_ci(v, 'groups_recall')} | {v['topics_precision']:.3f} "
            f"| {v['topics_recall']:.3f} | {_ci(v, 'match_precision')} | {_ci(v, 'match_recall')} "
            f"| {_ci(v, 'match_f1')} | {_opt(v, 'auto_precision')} | {_opt(v, 'auto_share')} |"
        )
    s = run.get("profile_suggestions")
    if s:
        g, ga, t = s["groups_all_candidates"], s["groups_above_threshold"], s["topics"]
        lines += [
            "",
            f"profile suggestions from the descriptions of {s['profiles']} profiles (against the ticked ones): "
            f"groups P {g['precision']:.3f} / R {g['recall']:.3f} (every lexicon candidate; above the model's "
            f"threshold P {ga['precision']:.3f} / R {ga['recall']:.3f}); topics ({s['topic_source']}) "
            f"P {t['precision']:.3f} / R {t['recall']:.3f}"
            + (
                f", keyword rules P {s['topics_rules']['precision']:.3f} / R {s['topics_rules']['recall']:.3f}"
                if "topics_rules" in s
                else ""
            ),
        ]
    return "\n".join(lines) + "\n"
