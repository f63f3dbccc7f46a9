"""Precise push, the pure parts: taxonomy, push labels of a policy, profiles and the push rule.

No HTTP and no storage here; the stateful service is `qa_service.push`.
"""
