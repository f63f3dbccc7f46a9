"""Push labels for one policy document: who it is for, where it applies, which groups and topics.

`label_document(doc)` returns a `corpus.push.targeting.Targeting` built by explainable rules over
the title and text, following the push-dev GUIDE (`../shared/data/eval/push-dev/GUIDE.md`):

- audience: cue words for people (居民, 申请人, 职工…) and for businesses and private
  institutions (企业, 用人单位, 养老院, 商场…), counted in the text; a side named much less
  than the other still counts when it gets benefits of its own (个人…免征), and a short notice
  needs to name its addressee only once; documents about
  the government's own procedures (备案审查, 建议答复, 人事调整…) and news without measures
  get no audience;
- jurisdiction: a scope clause (本市行政区域内, 适用于…区) wins, else the region of the issuer
  or title, else the region named in the opening lines; national bodies are national;
- groups: one lexicon per group; a group counts when the document is written for it (title)
  or names it next to a benefit, duty, eligibility rule or quota (补贴, 不得, 资格, 指标…) at
  least once among several mentions, or, named only once, as the sole target of a measure
  (对高校毕业生…, 符合条件的退休人员…, not a list of groups nor a penalty clause); mentions
  alone (news statistics) are not enough; each group carries a verbatim 10-80 character
  quote from the text; universal schemes (医保) get none. Sentences run across hard-wrapped
  lines (PDF text), so a group and its eligibility rule on the next line stay together;
- topics: weighted keywords, the title weighing most, 1-3 topics, plus the topic a labelled
  group implies (农民 -> 农业农村); an optional learned `topic_predictor`
  (`corpus.push.topics`) replaces the keywords when the caller has an encoder;
- an optional learned `audience_predictor` (`corpus.push.audience_model`) replaces the audience
  cues; its audience is final (groups of a side it leaves out are dropped, none are added);
- an optional learned `group_predictor` (`corpus.push.group_model`: the lexicon proposes, a
  logistic model reading each mention with its clause, list lead-in and heading decides) replaces
  the group rules; evidence is still a verbatim quote of the text;
- expired: metadata, 已废止/已失效, or a stated validity period that ended before `today`.

Each stage is a module of `corpus.push` (`audience`, `jurisdiction`, `groups`, `topic_rules`,
`expiry`, over `sentences`); this one puts them together. Their lexicons are module-level data
so they can be read, reviewed and extended in one place.
"""

from __future__ import annotations

import datetime as _dt
from typing import Protocol

from corpus.models import Document, Status
from corpus.push.audience import audience_of
from corpus.push.expiry import expiry_of
from corpus.push.groups import groups_of
from corpus.push.jurisdiction import jurisdiction_of
from corpus.push.targeting import Targeting
from corpus.push.taxonomy import BUSINESS_GROUPS, Audience
from corpus.push.topic_rules import topics_of, with_group_topics

__all__ = ["label_document", "TopicPredictor", "AudiencePredictor", "GroupPredictor"]


class TopicPredictor(Protocol):
    """Topics of a document from a learned model (`corpus.push.topics.TopicClassifier`)."""

    def predict(self, doc: Document) -> tuple[str, ...]: ...


class GroupPredictor(Protocol):
    """Groups of a document and their verbatim evidence from a learned model (`corpus.push.group_model`)."""

    def predict(self, doc: Document) -> tuple[tuple[str, ...], dict[str, str]]: ...


class AudiencePredictor(Protocol):
    """The audience of a document from a learned model (`corpus.push.audience_model`); empty: nobody."""

    def predict(self, doc: Document) -> tuple[Audience, ...]: ...


def label_document(
    doc: Document,
    today: str | None = None,
    topic_predictor: TopicPredictor | None = None,
    audience_predictor: AudiencePredictor | None = None,
    group_predictor: GroupPredictor | None = None,
) -> Targeting:
    """Push labels of `doc`. `today` (ISO date) decides whether a stated validity period has ended.

    `topic_predictor`, when given, replaces the keyword topic rules (the topic a labelled group
    implies is still added); without it, the rules decide, so no encoder is ever needed.
    `audience_predictor`, when given, replaces the audience cues and has the last word.
    `group_predictor`, when given, replaces the group rules (the lexicon still proposes the candidates).
    """
    today = _check_today(today)
    title = doc.title or ""
    text = doc.text or ""
    if not text.strip() and not title.strip():
        return Targeting(doc_id=doc.id, expired=doc.status is Status.EXPIRED)
    expired, reason = expiry_of(doc, today)
    jurisdiction = jurisdiction_of(doc)
    audience = audience_of(title, text) if audience_predictor is None else (audience_predictor.predict(doc) or None)
    # internal procedure and news get no groups either: nobody is addressed
    if audience is None:
        groups, evidence = (), {}
    else:
        groups, evidence = groups_of(title, text) if group_predictor is None else group_predictor.predict(doc)
    audience = audience or ()
    if audience_predictor is None:
        # a group named with a benefit or duty makes its side an audience (GUIDE §2.1)
        if any(g not in BUSINESS_GROUPS for g in groups) and Audience.RESIDENT not in audience:
            audience = (Audience.RESIDENT, *audience)
        if any(g in BUSINESS_GROUPS for g in groups) and Audience.ENTERPRISE not in audience:
            audience = (*audience, Audience.ENTERPRISE)
    elif Audience.ENTERPRISE not in audience:
        # the learned audience is final: business groups reach enterprises only
        groups = tuple(g for g in groups if g not in BUSINESS_GROUPS)
        evidence = {g: q for g, q in evidence.items() if g in groups}
    if Audience.RESIDENT not in audience:
        # groups of people other than businesses reach residents only
        keep = {g for g in groups if g in BUSINESS_GROUPS}
        groups = tuple(g for g in groups if g in keep)
        evidence = {g: q for g, q in evidence.items() if g in keep}
    return Targeting(
        doc_id=doc.id,
        audience=audience,
        jurisdiction=jurisdiction,
        groups=groups,
        evidence=evidence,
        topics=topics_of(title, text, groups)
        if topic_predictor is None
        else with_group_topics(topic_predictor.predict(doc), groups),
        expired=expired,
        expired_reason=reason,
    )


def _check_today(today: str | None) -> str:
    if today is None:
        return _dt.date.today().isoformat()
    try:
        return _dt.date.fromisoformat(today).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"today must be an ISO date like 2026-11-29, got {today!r}") from None
