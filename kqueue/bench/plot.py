#!/usr/bin/env python3
"""libevent bench.c per backend: a markdown table of medians and a plot.

    plot.py CSV PNG [MODE]   (CSV: backend,pipes,active,run,usec; MODE: "QEMU TCG")
"""
import csv
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, png, mode="QEMU TCG"):
    runs = defaultdict(list)
    with open(src) as f:
        for row in csv.DictReader(f):
            runs[(int(row["pipes"]), int(row["active"]), row["backend"])].append(int(row["usec"]))
    configs = sorted({(p, a) for p, a, _ in runs})
    backends = ["EPOLL", "KQUEUE"]
    print("| pipes | active | epoll (us, median of 25) | kqueue on kevent (us) | kqueue / epoll |")
    print("|---:|---:|---:|---:|---:|")
    for p, a in configs:
        m = {b: statistics.median(runs[(p, a, b)]) for b in backends if runs[(p, a, b)]}
        if len(m) == 2:
            print(f"| {p} | {a} | {m['EPOLL']:.0f} | {m['KQUEUE']:.0f} | {m['KQUEUE'] / m['EPOLL']:.2f} |")
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.38
    for i, b in enumerate(backends):
        xs = [j + (i - 0.5) * width for j in range(len(configs))]
        ys = [statistics.median(runs[(p, a, b)]) if runs[(p, a, b)] else 0 for p, a in configs]
        label = "epoll" if b == "EPOLL" else "kqueue (libkqueue on kevent)"
        bars = ax.bar(xs, ys, width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(configs)))
    ax.set_xticklabels([f"{p} pipes\n{a} active" for p, a in configs])
    ax.set_ylabel("time per bench.c run (us, median of 25)")
    ax.set_title(f"libevent 2.1.12 test/bench.c, per backend ({mode})")
    ax.legend()
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


if __name__ == "__main__":
    main(*sys.argv[1:4])
