#!/usr/bin/env python3
"""Appends criterion's results to a kevent-benches CSV file, as rows of
workload "per-call": the median time per call, the number of samples, and
the fastest and slowest sample (time per iteration).

    benches/criterion_csv.py CRITERION_HOME RESULTS.csv

Standard library only.
"""
import json
import sys
from pathlib import Path


def rows(home):
    for bench in sorted(Path(home).glob("*/*/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        new = bench.parent
        median = json.loads((new / "estimates.json").read_text())["median"]["point_estimate"]
        sample = json.loads((new / "sample.json").read_text())
        per_iter = [t / i for t, i in zip(sample["times"], sample["iters"])]
        yield (f"per-call,op={meta['group_id']},{meta['function_id']},ns_per_call,"
               f"{median:.3f},{len(per_iter)},{min(per_iter):.3f},{max(per_iter):.3f},")


def main():
    home, out = sys.argv[1], sys.argv[2]
    found = list(rows(home))
    if not found:
        sys.exit(f"criterion_csv: no criterion results under {home}")
    with open(out, "a") as f:
        for r in found:
            f.write(r + "\n")


if __name__ == "__main__":
    main()
