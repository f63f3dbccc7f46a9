"""Precise push, the stateful service: the push database, planning, delivery, and the use cases behind the routes."""
