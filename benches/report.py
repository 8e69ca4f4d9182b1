#!/usr/bin/env python3
"""Turns kevent-benches CSV files into a Markdown table of ratios against
epoll and SVG plots: time per event against N for the socket-pair
workloads, bars for the others.

    benches/report.py OUT_DIR LABEL=results.csv [LABEL=results.csv ...]

Writes OUT_DIR/table.md and OUT_DIR/<workload>[-<op>]-<label>.svg.
Standard library only.
"""
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

# Column order: the reference first, the bound last.
ORDER = ["epoll", "epoll-et", "epoll-exclusive", "kevent", "kevent-ring", "io_uring"]
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f"]


def mech_key(m):
    return (m == "none", ORDER.index(m) if m in ORDER else len(ORDER), m)


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            r["params_d"] = dict(p.split("=", 1) for p in r["params"].split(";"))
            if r["value"]:
                for k in ("value", "min", "max"):
                    r[k] = float(r[k])
            else:
                r["value"] = None
            rows.append(r)
    return rows


def fmt(v, metric):
    if metric.startswith("ns_") or "_ns_" in metric or metric.endswith("_ns"):
        return f"{v:.0f} ns" if v >= 10 else f"{v:.1f} ns"
    return f"{v:.2f}"


def table(label, rows):
    out = [f"### {label}", ""]
    mechs = sorted({r["mechanism"] for r in rows}, key=mech_key)
    notes = {}
    groups = defaultdict(dict)
    for r in rows:
        groups[(r["workload"], r["params"])][r["mechanism"]] = r
    metrics = defaultdict(list)  # (workload, params) -> metrics in order
    for r in rows:
        key = (r["workload"], r["params"])
        if r["value"] is not None and r["metric"] not in metrics[key]:
            metrics[key].append(r["metric"])
    by_metric = defaultdict(dict)
    for r in rows:
        by_metric[(r["workload"], r["params"], r["metric"])][r["mechanism"]] = r
    out.append("| workload | params | metric | " + " | ".join(mechs) + " |")
    out.append("|---|---|---|" + "---|" * len(mechs))
    for (w, p) in groups:
        for metric in metrics[(w, p)]:
            m = by_metric[(w, p, metric)]
            base = m.get("epoll")
            cells = []
            for name in mechs:
                r = m.get(name)
                na = groups[(w, p)].get(name)
                if r is None:
                    if na is not None and na["value"] is None:
                        n = notes.setdefault(na["note"], len(notes) + 1)
                        cells.append(f"n/a [{n}]")
                    else:
                        cells.append("")
                    continue
                v = fmt(r["value"], metric)
                spread = f"{r['min']:.{0 if 'ns' in metric else 2}f}-{r['max']:.{0 if 'ns' in metric else 2}f}"
                # Ratios of times; counts (wake-ups per event) stand alone.
                if base and base["value"] and "ns" in metric:
                    cells.append(f"**{r['value'] / base['value']:.2f}** ({v}; {spread})")
                else:
                    cells.append(f"{v} ({spread})")
            out.append(f"| {w} | {p.replace(';', ' ')} | {metric} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Each cell: **ratio to epoll** (level-triggered) for times, then the median of the runs and their min-max. "
               "Counts (wake-ups per event) are shown as they are. An empty cell: the mechanism has no such call.")
    for note, n in notes.items():
        out.append(f"[{n}] {note}  ")
    out.append("")
    return out


def svg_frame(w, h, left, bottom, xlabel, ylabel):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
            f'<line x1="{left}" y1="{h-bottom}" x2="{w-150}" y2="{h-bottom}" stroke="black"/>',
            f'<line x1="{left}" y1="20" x2="{left}" y2="{h-bottom}" stroke="black"/>',
            f'<text x="{(w-150+left)/2}" y="{h-8}" text-anchor="middle">{xlabel}</text>',
            f'<text x="14" y="{h/2}" transform="rotate(-90 14 {h/2})" text-anchor="middle">{ylabel}</text>']


def line_plot(rows, workload, metric, path):
    """Median against N (log scale), with min-max bars."""
    pts = defaultdict(list)
    for r in rows:
        if r["workload"] == workload and r["metric"] == metric and r["value"] is not None:
            pts[r["mechanism"]].append((int(r["params_d"]["pairs"]), r["value"], r["min"], r["max"]))
    if not pts:
        return False
    ns = sorted({p[0] for ps in pts.values() for p in ps})
    ymax = max(p[3] for ps in pts.values() for p in ps) * 1.1
    w, h, left, bottom = 640, 400, 70, 40
    span = max(1e-9, math.log10(ns[-1]) - math.log10(ns[0]))
    lx = lambda n: left + 20 + (w - left - 190) * (math.log10(n) - math.log10(ns[0])) / span
    ly = lambda v: h - bottom - (h - bottom - 20) * v / ymax
    parts = svg_frame(w, h, left, bottom, "N socket pairs (log scale)", metric.replace("_", " "))
    for n in ns:
        parts.append(f'<text x="{lx(n)}" y="{h-bottom+15}" text-anchor="middle">{n}</text>')
    for i in range(5):
        v = ymax * i / 4
        parts.append(f'<text x="{left-5}" y="{ly(v)+4}" text-anchor="end">{v:.0f}</text>')
    for i, (m, p) in enumerate(sorted(pts.items(), key=lambda kv: mech_key(kv[0]))):
        p.sort()
        c = COLORS[i % len(COLORS)]
        parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            c, " ".join(f"{lx(n):.1f},{ly(v):.1f}" for n, v, _, _ in p)))
        for n, v, lo, hi in p:
            parts.append(f'<line x1="{lx(n):.1f}" y1="{ly(lo):.1f}" x2="{lx(n):.1f}" y2="{ly(hi):.1f}" stroke="{c}"/>')
        parts.append(f'<text x="{w-140}" y="{30+16*i}" fill="{c}">{m}</text>')
    parts.append("</svg>")
    Path(path).write_text("\n".join(parts))
    return True


def bar_plot(rows, workload, params, metric, path):
    """One bar per mechanism (median), with its min-max."""
    bars = sorted(((r["mechanism"], r["value"], r["min"], r["max"]) for r in rows
                   if r["workload"] == workload and r["params"] == params and r["metric"] == metric
                   and r["value"] is not None), key=lambda b: mech_key(b[0]))
    if not bars:
        return False
    w, h, left, bottom = 640, 400, 70, 40
    ymax = max(b[3] for b in bars) * 1.1 or 1
    ly = lambda v: h - bottom - (h - bottom - 20) * v / ymax
    bw = (w - left - 170) / len(bars)
    parts = svg_frame(w, h, left, bottom, f"{workload} {params.replace(';', ' ')}", metric.replace("_", " "))
    for i in range(5):
        v = ymax * i / 4
        parts.append(f'<text x="{left-5}" y="{ly(v)+4}" text-anchor="end">{v:.3g}</text>')
    for i, (m, v, lo, hi) in enumerate(bars):
        x = left + 10 + i * bw
        c = COLORS[i % len(COLORS)]
        parts.append(f'<rect x="{x:.1f}" y="{ly(v):.1f}" width="{bw*0.7:.1f}" height="{ly(0)-ly(v):.1f}" fill="{c}"/>')
        parts.append(f'<line x1="{x+bw*0.35:.1f}" y1="{ly(lo):.1f}" x2="{x+bw*0.35:.1f}" y2="{ly(hi):.1f}" stroke="black"/>')
        parts.append(f'<text x="{w-140}" y="{30+16*i}" fill="{c}">{m}</text>')
    parts.append("</svg>")
    Path(path).write_text("\n".join(parts))
    return True


def plots(out, label, rows):
    md = []
    for wl in dict.fromkeys(r["workload"] for r in rows):
        wrows = [r for r in rows if r["workload"] == wl]
        first_metric = next((r["metric"] for r in wrows if r["value"] is not None), None)
        if first_metric is None:
            continue
        if all("pairs" in r["params_d"] for r in wrows):
            name = f"{wl}-{label}.svg"
            if line_plot(rows, wl, first_metric, out / name):
                md += [f"![{wl} ({label})]({name})", ""]
            continue
        for params in dict.fromkeys(r["params"] for r in wrows):
            metric = next(r["metric"] for r in wrows if r["params"] == params and r["value"] is not None)
            op = params.split("=", 1)[1] if wl == "per-call" else ""
            name = f"{wl}{'-' + op if op else ''}-{label}.svg"
            if bar_plot(rows, wl, params, metric, out / name):
                md += [f"![{wl} {op} ({label})]({name})", ""]
    return md


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    md = []
    for arg in sys.argv[2:]:
        label, path = arg.split("=", 1)
        rows = load(path)
        md += table(label, rows)
        md += plots(out, label, rows)
    (out / "table.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
