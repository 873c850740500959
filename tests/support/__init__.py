"""Helpers for the tests (and the benchmarks): databases and apps, real servers (gunicorn, nginx,
pgbouncer, a private PostgreSQL cluster, a wire proxy), a fake LLM server, and clients."""
