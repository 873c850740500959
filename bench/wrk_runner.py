"""Run wrk with bench/wrk/bench.lua and parse the JSON line its done() hook prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk" / "bench.lua"
CONNECTIONS = 16
WRK_THREADS = 2
SECONDS = 10


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (make bench does it when run as root)")
    return found


def wrk_version() -> str:
    result = subprocess.run([wrk_path(), "--version"], capture_output=True, text=True)
    return (result.stdout or result.stderr).splitlines()[0].split(" Copyright")[0].strip()


def run_wrk(
    url: str,
    mode: str,
    token: str,
    threads_file: Path | None = None,
    seconds: float = SECONDS,
    connections: int = CONNECTIONS,
) -> dict:
    """One wrk run with `connections` keep-alive connections; returns requests, req_per_s,
    errors and latency percentiles in ms."""
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_TOKEN": token}
    if threads_file is not None:
        env["BENCH_THREADS_FILE"] = str(threads_file)
    command = command_line(url, seconds, connections)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 30)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    line = next((out for out in result.stdout.splitlines() if out.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line[len("BENCH_JSON "):])
    seconds_run = data["duration_us"] / 1e6
    errors = sum(data["errors"].values())
    return {
        "requests": data["requests"],
        "req_per_s": data["requests"] / seconds_run,
        "errors": errors,
        "error_detail": data["errors"],
        "latency_ms": {p: us / 1000 for p, us in data["latency_us"].items()},
        "latency_mean_ms": data["latency_mean_us"] / 1000,
        "latency_max_ms": data["latency_max_us"] / 1000,
    }


def command_line(url: str, seconds: float = SECONDS, connections: int = CONNECTIONS) -> list[str]:
    return [
        wrk_path(), f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
        "-s", str(LUA_SCRIPT), url,
    ]
