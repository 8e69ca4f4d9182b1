#!/usr/bin/python3
"""One figure of the web-server comparison: per case, kqueue's requests/s
divided by epoll's (1.0: a tie; above: kqueue on kevent serves more),
one panel per run, lighttpd and nginx side by side.

    benches/webserver/plot.py OUT.png LABEL=results.csv [LABEL=results.csv ...]

The CSV files are guest.py's (or the main report's results-<run>.csv:
other workloads' rows are skipped). Needs matplotlib (python3-matplotlib).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERVERS = {"lighttpd": ("#1f77b4", "o"), "nginx": ("#2ca02c", "s")}


def load(path):
    out = {}
    order = []
    for r in csv.DictReader(open(path)):
        if r["workload"] not in SERVERS or r["metric"] != "requests_per_s" or not r["value"]:
            continue
        p = dict(x.split("=", 1) for x in r["params"].split(";"))
        case = f"{p['file']} {p['http']} c={p['connections']}"
        if case not in order:
            order.append(case)
        out[(r["workload"], case, r["mechanism"])] = float(r["value"])
    return order, out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    runs = [a.split("=", 1) for a in sys.argv[2:]]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs) + 1.2, 4.8), squeeze=False,
                             sharey=True)
    for ax, (label, path) in zip(axes[0], runs):
        order, v = load(path)
        for j, (srv, (color, marker)) in enumerate(SERVERS.items()):
            pts = [(i, v[(srv, c, "kqueue")] / v[(srv, c, "epoll")]) for i, c in enumerate(order)
                   if (srv, c, "kqueue") in v and (srv, c, "epoll") in v]
            ax.scatter([p[1] for p in pts], [p[0] + (j - 0.5) * 0.2 for p in pts], color=color,
                       marker=marker, s=36, label=srv, zorder=3)
        ax.axvline(1, color="black", linewidth=1.1)
        ax.axvspan(0.5, 1, color="#f8e8e8", zorder=0)
        ax.axvspan(1, 1.5, color="#e8f4e8", zorder=0)
        ax.set_xlim(0.5, 1.5)
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels(order)
        ax.set_ylim(len(order) - 0.5, -0.5)
        ax.grid(axis="x", color="#bbbbbb", linewidth=0.6, linestyle=":")
        ax.set_title({"icount": "QEMU -icount", "tcg": "QEMU TCG (spread 10-50 %)"}.get(label, label),
                     fontsize=10)
        ax.set_xlabel("kqueue requests/s ÷ epoll's (right: kqueue serves more)")
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle("lighttpd and nginx under wrk: kqueue on kevent against epoll", fontweight="bold")
    fig.tight_layout()
    fig.savefig(sys.argv[1], dpi=110, metadata={"Software": None})


if __name__ == "__main__":
    main()
