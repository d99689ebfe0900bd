"""Benchmark instrument: the referral service against a raw Kafka passthrough.

``python -m bench.pipeline`` (``make bench``) runs both on one embedded broker and writes
``docs/benchmarks.md``.
"""
