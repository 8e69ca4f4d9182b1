#!/usr/bin/env python3
"""Turns kevent-benches CSV files into a Markdown table of ratios against
epoll and one SVG plot per workload (time per event against N).

    benches/report.py OUT_DIR LABEL=results.csv [LABEL=results.csv ...]

Writes OUT_DIR/table.md and OUT_DIR/<workload>-<label>.svg. Standard
library only.
"""
import csv
import sys
from collections import defaultdict
from pathlib import Path


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            r["value"] = float(r["value"])
            r["min"] = float(r["min"])
            r["max"] = float(r["max"])
            r["n"] = int(dict(p.split("=") for p in r["params"].split(";"))["pairs"])
            rows.append(r)
    return rows


def table(label, rows):
    out = [f"### {label}", ""]
    by = defaultdict(dict)
    for r in rows:
        by[(r["workload"], r["n"])][r["mechanism"]] = r
    mechs = sorted({r["mechanism"] for r in rows}, key=lambda m: (m != "epoll", m))
    out.append("| workload | N | " + " | ".join(mechs) + " |")
    out.append("|---|---|" + "---|" * len(mechs))
    for (w, n), m in sorted(by.items()):
        base = m.get("epoll")
        cells = []
        for name in mechs:
            r = m.get(name)
            if r is None:
                cells.append("n/a")
            elif base is None:
                cells.append(f"{r['value']:.0f} ns")
            else:
                cells.append(f"{r['value'] / base['value']:.2f} ({r['value']:.0f} ns, {r['min']:.0f}-{r['max']:.0f})")
        out.append(f"| {w} | {n} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Each cell: ratio to epoll (level-triggered), then the median time per event and the min-max of the runs.")
    out.append("")
    return out


def svg(rows, workload, path):
    pts = defaultdict(list)
    for r in rows:
        if r["workload"] == workload:
            pts[r["mechanism"]].append((r["n"], r["value"]))
    ns = sorted({n for p in pts.values() for n, _ in p})
    ymax = max(v for p in pts.values() for _, v in p) * 1.1
    w, h, left, bottom = 640, 400, 70, 40
    import math
    lx = lambda n: left + (w - left - 150) * (
        (math.log10(n) - math.log10(ns[0])) / max(1e-9, math.log10(ns[-1]) - math.log10(ns[0])))
    ly = lambda v: h - bottom - (h - bottom - 20) * v / ymax
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<line x1="{left}" y1="{h-bottom}" x2="{w-150}" y2="{h-bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="20" x2="{left}" y2="{h-bottom}" stroke="black"/>',
             f'<text x="{(w-150+left)/2}" y="{h-8}" text-anchor="middle">N (log scale)</text>',
             f'<text x="14" y="{h/2}" transform="rotate(-90 14 {h/2})" text-anchor="middle">ns per event</text>']
    for n in ns:
        parts.append(f'<text x="{lx(n)}" y="{h-bottom+15}" text-anchor="middle">{n}</text>')
    for i in range(5):
        v = ymax * i / 4
        parts.append(f'<text x="{left-5}" y="{ly(v)+4}" text-anchor="end">{v:.0f}</text>')
    for i, (m, p) in enumerate(sorted(pts.items())):
        p.sort()
        c = colors[i % len(colors)]
        parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            c, " ".join(f"{lx(n):.1f},{ly(v):.1f}" for n, v in p)))
        parts.append(f'<text x="{w-140}" y="{30+16*i}" fill="{c}">{m}</text>')
    parts.append("</svg>")
    Path(path).write_text("\n".join(parts))


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    md = []
    for arg in sys.argv[2:]:
        label, path = arg.split("=", 1)
        rows = load(path)
        md += table(label, rows)
        for wl in sorted({r["workload"] for r in rows}):
            svg(rows, wl, out / f"{wl}-{label}.svg")
            md.append(f"![{wl} ({label})]({wl}-{label}.svg)")
            md.append("")
    (out / "table.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
