"""Where a served request's time goes: py-spy samples chatapp's gunicorn workers under wrk.

    .venv/bin/python -m bench.profile_http read|append [seconds]

Creates, seeds and drops the bench database like run.py, then prints the functions with the
largest share of the workers' samples (inclusive), grouped by file. py-spy needs ptrace (root).
"""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
from pathlib import Path

from bench.common import INSTANCE_PATH, create_database, drop_database

BIN = Path(sys.executable).parent


def summarize(collapsed: Path, top: int = 40) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        for frame in set(stack.split(";")):
            name, _, location = frame.partition(" (")
            location = location.rstrip(")")
            short = "/".join(location.split("/")[-2:]).split(":")[0]
            inclusive[f"{name} ({short})"] += samples
    lines = [f"{total} samples; inclusive share of the workers' samples:"]
    for frame, samples in inclusive.most_common(top):
        lines.append(f"{100 * samples / total:5.1f}%  {frame}")
    return "\n".join(lines)


def main() -> None:
    from bench.http_bench import read_path
    from bench.run import migrate
    from bench.seed import seed
    from bench.serve import served
    from bench.wrk_runner import run_wrk

    mode = sys.argv[1] if len(sys.argv) > 1 else "read"
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    create_database()
    try:
        migrate()
        seeded = seed()
        threads_file = INSTANCE_PATH / "append_threads.txt"
        threads_file.write_text("\n".join(seeded.append_threads) + "\n")
        collapsed = INSTANCE_PATH / f"profile-{mode}.txt"
        with served("chatapp") as base:
            run_wrk(base + read_path(seeded), "get", seeded.token, seconds=2)  # warm up
            master = subprocess.run(["pgrep", "-o", "-f", "gunicorn.*wsgi:app"], capture_output=True, text=True)
            pid = master.stdout.split()[0]
            spy = subprocess.Popen(
                [str(BIN / "py-spy"), "record", "--subprocesses", "--format", "raw", "--rate", "200",
                 "-d", str(seconds), "-o", str(collapsed), "-p", pid],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            url = base + (read_path(seeded) if mode == "read" else "/")
            load = threading.Thread(
                target=run_wrk,
                args=(url, "get" if mode == "read" else "post", seeded.token, threads_file if mode != "read" else None),
                kwargs={"seconds": seconds},
            )
            load.start()
            spy.wait()
            load.join()
        print(summarize(collapsed))
    finally:
        drop_database()


if __name__ == "__main__":
    main()
