"""Curated FAQ matching lives in `index.faq` (the eval runs it too); re-exported for the service."""

from index.faq import FaqItem, FaqMatch, FaqMatcher, load_faq_file

__all__ = ["FaqItem", "FaqMatch", "FaqMatcher", "load_faq_file"]
