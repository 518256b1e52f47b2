"""`weprompt bank validate` over the whole bank: wall time of the command, for this source tree and optionally a
peer tree (an older commit unpacked with `git archive <rev> | tar -x -C /tmp/before`), alternating runs so
host load hits both alike, and a check that both trees give the same report (`--json` without `seconds`).

    python bench/bench_bank_validate.py --before /tmp/before --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from weprompt.common import paths

ROOT = Path(__file__).resolve().parents[1]
# Each run starts in its own tree (`python -m` puts the working directory first on sys.path, so the
# tree must be the working directory, not only PYTHONPATH); the data dir is fixed for both.
DATA_DIR = str(paths.data_dir()[0])


def run_once(tree: Path, extra: list[str]) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "weprompt.cli.main", "bank", "validate", "--json", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree), paths.DATA_ENV: DATA_DIR},
                          capture_output=True, text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: the bank has errors, still a report
        raise SystemExit(f"{tree}: bank validate failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    report.pop("seconds")
    return round(seconds, 2), report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="a peer source tree to compare with")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--examples", type=int, default=20)
    args = ap.parse_args()
    trees = {"after": ROOT} if not args.before else {"before": Path(args.before).resolve(), "after": ROOT}
    times: dict[str, list[float]] = {k: [] for k in trees}
    reports: dict[str, dict] = {}
    for r in range(args.rounds):
        for name in list(trees)[:: 1 if r % 2 == 0 else -1]:
            seconds, report = run_once(trees[name], ["--examples", str(args.examples)])
            times[name].append(seconds)
            reports.setdefault(name, report)
            print(name, r, seconds, "s", flush=True)
    after = reports["after"]
    print(f"{sum(after['templates'].values())} templates of {len(after['templates'])} tasks, "
          f"{sum(after['examples'].values())} examples, {len(after['issues'])} issues")  # fmt: skip
    for name, ts in times.items():
        print(f"{name}: {ts} s (command wall time, process start included)")
    if args.before:
        same = reports["before"] == reports["after"]
        print("identical report before/after:", same)
        if not same:
            raise SystemExit("the reports differ")
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    main()
