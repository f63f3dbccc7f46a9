"""The shipped push labeller on a labelled set (`python -m eval push --topics shipped`), and the profile
suggestions of `--cv` runs: what a machine without ../shared runs, judged the same way."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import numpy as np

from corpus.push.topics import TopicClassifier, TopicModel
from eval.push import PushSet

log = logging.getLogger(__name__)


def shipped_metrics(
    data: PushSet, encoder: Any, draws: np.ndarray, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped learned labeller (`corpus.push.learned`) on the set, and its review gate's auto-send
    figures: a document goes out unreviewed when its P(match) floor reaches the shipped threshold."""
    from corpus.push.learned import RESOURCES, learned_labeller, shipped_match_model
    from eval.push_cv import _sha, flat_metrics

    labeller = learned_labeller(encoder, today=args.today)
    if labeller is None:
        raise ValueError(f"the shipped models were not trained on encoder {encoder.name!r}")
    ids = list(data.gold)
    pred = {i: labeller(data.docs[i]) for i in ids}
    m = flat_metrics(data, pred, draws, args.today)
    pm = shipped_match_model(RESOURCES)
    counts = m["_match_counts"]
    if pm is not None:
        floors = [pm.floor(pred[i]) for i in ids]
        sent = np.array([f is not None and f >= pm.auto_threshold for f in floors])
        tp, fp = int(counts[sent, 0].sum()), int(counts[sent, 1].sum())
        m["auto_precision"] = tp / (tp + fp) if tp + fp else 0.0
        m["auto_share"] = tp / len(data.gold_pairs) if data.gold_pairs else 0.0
    in_sample = labeller.topics.info.get("labels_sha256") == _sha(args.labels)
    return m, {"labeller": labeller.name, "in_sample": in_sample,
               "match_auto_threshold": pm.auto_threshold if pm else None}  # fmt: skip


def suggestions(data: PushSet, encoder: Any) -> dict[str, Any]:
    """Profile suggestions from the descriptions with the shipped group and topic models (eval.push_suggest)."""
    from corpus.push.learned import RESOURCES, shipped_group_model
    from eval.push_suggest import suggestion_metrics

    try:
        clf = TopicClassifier(TopicModel.load(RESOURCES / "push_topics"), encoder)
    except (FileNotFoundError, ValueError) as exc:
        log.warning("profile suggestions use the keyword topics: %s", exc)
        clf = None
    return suggestion_metrics(data.profiles, shipped_group_model(RESOURCES), clf)
