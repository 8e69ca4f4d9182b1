#!/usr/bin/env python3
"""The table of benches/ab.sh: ab_table.py DIR TAG...

One row per loop mode (the mean of its two runs) and per workload and
mechanism (the median the driver wrote), one column per TAG: ns per call
or per event, which under -icount are instructions."""
import collections
import csv
import re
import sys


def main(d, tags):
    rows = collections.OrderedDict()
    for t in tags:
        runs = collections.defaultdict(list)
        with open(f"{d}/loops-{t}.txt") as f:
            for mode, ns in re.findall(r"^(\S+): ([\d.]+) ns", f.read(), re.M):
                runs[mode].append(float(ns))
        for mode, v in runs.items():
            rows.setdefault(mode, {})[t] = sum(v) / len(v)
        for name in ("pipes", "leb"):
            with open(f"{d}/{name}-{t}.csv") as f:
                for r in csv.reader(f):
                    if len(r) > 4 and r[3] == "ns_per_event":
                        params = re.sub(r";(events|writes)=\d+", "", r[1])
                        rows.setdefault(f"{r[0]} {params} {r[2]}", {})[t] = float(r[4])
    print("| row | " + " | ".join(tags) + " |")
    print("|---|" + "---:|" * len(tags))
    for k, v in rows.items():
        print(f"| {k} | " + " | ".join(f"{v[t]:.1f}" if t in v else "" for t in tags) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: ab_table.py DIR TAG...")
    main(sys.argv[1], sys.argv[2:])
