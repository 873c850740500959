"""Figures from bench/run.py's raw results: medians and ranges, wrk summaries, ratios, verdicts."""

from __future__ import annotations

import statistics

PERCENTILES = ("50", "75", "90", "95", "99", "99.9")


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt(values: list[float], digits: int = 1) -> str:
    """median (min–max)."""
    median, low, high = stats(values)
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def sample(figure: dict, digits: int = 1) -> str:
    """A Sample's dict (bench.common.Sample.as_dict) as median (min–max)."""
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f}–{figure['max']:.{digits}f})"


def met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def verdict(ratio: float, minimum: float, aim: float) -> str:
    """A target with an aim above it: missed, met, or met with the aim reached too."""
    if ratio < minimum:
        return "**missed**"
    return "**met**, aim met too" if ratio >= aim else f"**met** (aim {aim:.1f}× not yet)"


def target(minimum: float, aim: float) -> str:
    return f"≥ {minimum:.1f}× (aim {aim:.1f}×)"


def wrk_summary(runs: dict[str, dict[str, list[dict]]]) -> dict:
    """endpoint -> app -> req/s, p50 and p99 lists, errors and median percentiles; plus
    `ratio` (req/s chatapp / baseline) and `p50_ratio` (p50 baseline / chatapp), of medians."""
    summary = {}
    for endpoint, apps in runs.items():
        row = {}
        for app_name, app_runs in apps.items():
            row[app_name] = {
                "req_per_s": [r["req_per_s"] for r in app_runs],
                "p50": [r["latency_ms"]["50"] for r in app_runs],
                "p99": [r["latency_ms"]["99"] for r in app_runs],
                "errors": sum(r["errors"] for r in app_runs),
                "percentiles": {p: statistics.median(r["latency_ms"][p] for r in app_runs) for p in PERCENTILES},
            }
        c, b = row["chatapp"], row["baseline"]
        row["ratio"] = statistics.median(c["req_per_s"]) / statistics.median(b["req_per_s"])
        row["p50_ratio"] = statistics.median(b["p50"]) / statistics.median(c["p50"])
        row["p99_ratio"] = statistics.median(b["p99"]) / statistics.median(c["p99"])
        summary[endpoint] = row
    return summary
