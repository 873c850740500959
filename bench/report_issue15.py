"""The report's section for issue #15, "Find, export and bring in conversations": search latency,
legacy import speed and export memory (bench/search_bench.py, bench/import_bench.py)."""

from __future__ import annotations

from bench.summary import met

SEARCH_P50_MS = 20.0  # one-word and phrase queries, PostgreSQL
IMPORT_SECONDS = 60.0  # 100,000 legacy messages


def section(results: dict) -> list[str]:
    data = results.get("data")
    if not data:
        return []
    search, legacy, export = data["search"], data["legacy"], data["export"]
    lines = [
        "## Search, legacy import and export (issue #15)",
        "",
        f"Search: `ChatStore.search` (the API's one statement, first page of 20 unless noted) over "
        f"{search['user_messages']:,} messages of one user, among {search['seed']['messages'] - search['user_messages']:,} "
        f"more of other users (seeded by COPY in {search['seed']['seconds']:.0f} s, `bench/search_bench.py`); "
        f"{search['calls']} calls each after a warm-up. The targets apply to the full size (200,000 messages).",
        "",
        "| query | q | the user's matches | p50 ms | p99 ms | target p50 < 20 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, figure in search["queries"].items():
        targeted = name in ("one word", "phrase") and search["user_messages"] >= 200_000
        verdict = met(figure["p50"] < SEARCH_P50_MS) if targeted else "(not a target)"
        lines.append(
            f"| {name} | `{figure['q']}` | {figure['matches']:,} | {figure['p50']:.2f} | {figure['p99']:.2f} | {verdict} |"
        )
    first, again = legacy["first"], legacy["again"]
    lines += [
        "",
        "A common word costs in proportion to its matches: every match is ranked before the best 20 are",
        "known (the plan is a bitmap scan of the GIN index, then the heap rows, then a top-N sort).",
        "",
        f"Legacy import (`LegacyImport`, as `flask chat import-legacy` runs it) of seed 004's tables: "
        f"{legacy['messages']:,} messages in {legacy['sessions']:,} sessions.",
        "",
        "| run | seconds | messages/s | imported | already there | target < 60 s |",
        "|---|---|---|---|---|---|",
        f"| first | {first['seconds']:.1f} | {legacy['messages_per_second']:,.0f} | {first['imported']:,} | "
        f"{first['present']:,} | "
        f"{met(first['seconds'] < IMPORT_SECONDS) if legacy['messages'] >= 100_000 else '(quick run)'} |",
        f"| again (nothing new) | {again['seconds']:.1f} | | {again['imported']:,} | {again['present']:,} | |",
        "",
        f"Export of a {export['items']:,}-item thread through the API (streamed; peak Python memory by",
        "tracemalloc in a second pass):",
        "",
        "| export | size | seconds | chunks | peak Python memory |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("json", "`GET /threads/{id}/export` (JSON)"), ("zip", "`GET /export` (ZIP)")):
        figure = export[name]
        lines.append(
            f"| {label} | {figure['bytes'] / 1e6:.1f} MB | {figure['seconds']:.1f} | {figure['chunks']} | "
            f"{figure['peak_bytes'] / 1e6:.1f} MB |"
        )
    return lines + [""]
