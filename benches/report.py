#!/usr/bin/env python3
"""Turns kevent-benches CSV files into the report's body: a summary figure
(every mechanism's time as a ratio to epoll's, per run), then per workload
its figures and its table of ratios against epoll.

    benches/report.py OUT_DIR LABEL=results.csv [LABEL=results.csv ...]

LABEL names the run (tcg, icount); each run is its own panel in every
figure, never mixed with another in one axis. Writes OUT_DIR/table.md (the
Markdown that ci/main.sh puts in the report's README.md) and, in
OUT_DIR/figures/, SVG and PNG of:

- summary: per run, each mechanism's median time divided by
  level-triggered epoll's, for every workload, parameter set and time
  metric (log scale, a line at 1.0);
- <workload>[-<value>]-<metric>: per workload and metric, the median of
  the repetitions with a min-max error bar; against N (log scale when N
  spans a decade) when a numeric parameter varies, otherwise one bar per
  mechanism. A parameter that varies and is not numeric (per-call's op)
  gets one figure per value.

Nothing here names a workload or a mechanism it needs: a new workload or
mechanism in the CSV gets its figures and colour by the same rules; the
tables below only give known ones nicer names. Needs matplotlib (Debian's
python3-matplotlib, installed by ci/setup.sh).
"""
import csv
import os
import re
import sys
import zlib
from collections import defaultdict
from pathlib import Path

try:
    import matplotlib
except ImportError:
    # Debian's python3-matplotlib is in /usr/bin/python3's dist-packages,
    # which another python3 first on PATH (pyenv) does not see.
    system = "/usr/bin/python3"
    if (__name__ == "__main__" and os.path.exists(system)
            and os.path.realpath(sys.executable) != os.path.realpath(system)
            and not os.environ.get("KEVENT_REPORT_REEXEC")):
        os.environ["KEVENT_REPORT_REEXEC"] = "1"
        os.execv(system, [system, *sys.argv])
    sys.exit("report.py: no matplotlib: install python3-matplotlib (ci/setup.sh does)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

# Column order: the reference first, the bound last.
ORDER = ["epoll", "epoll-et", "epoll-exclusive", "kevent", "kevent-et", "kevent-ring",
         "kevent-ring-at-event", "kevent-socket", "io_uring", "io_uring-multishot", "kqueue", "kqueue-oneshot", "kevent-aio"]
BASELINE = "epoll"
BOUND = "none"

# One colour and marker per mechanism, the same in every figure.
STYLE = {
    "epoll": ("#1f77b4", "o"),
    "epoll-et": ("#17becf", "s"),
    "epoll-exclusive": ("#9467bd", "D"),
    "kevent": ("#d62728", "o"),
    "kevent-et": ("#ff9896", "s"),
    "kevent-ring": ("#ff7f0e", "s"),
    "kevent-ring-at-event": ("#ffbb78", "^"),
    "kevent-socket": ("#8b0000", "D"),
    "io_uring": ("#2ca02c", "^"),
    "io_uring-multishot": ("#bcbd22", "v"),
    "kqueue": ("#e377c2", "P"),
    "kqueue-oneshot": ("#f7b6d2", "P"),
    "kevent-aio": ("#8c564b", "X"),
    "none": ("#7f7f7f", "x"),
}
# Mechanisms not above: a colour and marker chosen from the name, so the
# same in every figure and every report.
SPARE_COLORS = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
                "#e6550d", "#31a354", "#756bb1", "#636363"]
SPARE_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]

# Known workloads: a title and what one is. Others are shown by name.
WORKLOADS = {
    "libevent-bench": "libevent bench.c: N socket pairs, one byte passed along",
    "oneshot-rearm": "libevent bench.c with every watch re-armed after its event",
    "timers": "periodic timers armed at once, then a window",
    "herd": "thundering herd: threads wait for one eventfd",
    "pipes": "epoll_bench: N pipes, T tokens passed at random",
    "per-call": "criterion microbenchmarks of single calls",
    "proc-exits": "1,000 children forked, each exit reported: KEVENT_PROC against pidfd+epoll",
    "signals": "signals sent and collected: KEVENT_SIGNAL against signalfd+epoll",
    "inode-creates": "files created in a watched directory: KEVENT_INODE against inotify+epoll",
    "echo": "TCP echo: N loopback connections, each a closed loop of one message; a "
            "single-threaded server per mechanism (kevent-echo)",
    "download": "file download: N loopback connections, each a closed loop of a 1-byte request "
                "and 1 MiB from the page cache (kevent-echo)",
    "sendfile": "sendfile completions",
    "kqueue": "the kqueue-compatible layer",
    "web-server": "a small web server under load",
    "web": "a small web server under load",
    "lighttpd": "lighttpd 1.4.69 (Debian's source) under wrk: its epoll backend against its kqueue "
                "backend on libkqueue (kevent)",
    "nginx": "nginx 1.22.1 (Debian's source) under wrk: its epoll module against its kqueue module "
             "on libkqueue (kevent)",
}
# Known metrics: axis label and short label (summary rows). Others: from
# the name (a time when a word of it is "ns").
METRICS = {
    "ns_per_event": ("time per event", "time/event"),
    "ns_per_call": ("time per call", "time/call"),
    "cpu_ns_per_expiration": ("system CPU time per expiration", "system CPU/exp."),
    "process_ns_per_expiration": ("process CPU time per expiration", "process CPU/exp."),
    "setup_ns_per_timer": ("time to arm one timer", "setup/timer"),
    "delivered_fraction": ("expirations delivered, fraction of periods", "delivered"),
    "wakeups_per_event": ("wake-ups per event (1 is ideal)", "wake-ups/event"),
    "spurious_per_event": ("spurious wake-ups per event", "spurious/event"),
    "syscalls_per_event": ("the mechanism's system calls per event", "syscalls/event"),
    "ns_per_exit": ("time per child exit (fork and exit included)", "time/exit"),
    "ns_per_signal": ("time per signal", "time/signal"),
    "syscalls_per_signal": ("the collector's system calls per signal", "syscalls/signal"),
    "requests_per_s": ("requests per second (the load generator's; higher is better)", "requests/s"),
    "latency_p50_ns": ("median latency (wrk)", "p50 latency"),
    "latency_p99_ns": ("99th percentile latency (wrk)", "p99 latency"),
    "cpu_ns_per_request": ("server CPU time per request (user+system)", "server CPU/request"),
    "syscalls_per_request": ("the server's system calls per request", "syscalls/request"),
    "client_busy_fraction": ("the load generator's CPU time ÷ elapsed (1: it limits requests/s)",
                             "client busy"),
    "errors": ("wrk's errors: socket errors, timeouts, non-2xx (0 is right)", "errors"),
}
PARAMS = {"pairs": "N socket pairs", "pipes": "N pipes", "tokens": "tokens", "threads": "threads", "timers": "timers",
          "connections": "connections", "clients": "clients", "files": "files"}
RUNS = {
    "tcg": "tcg: QEMU TCG (wall clock; spread 10-50 %)",
    "icount": "icount: QEMU -icount (instruction-counted time)",
}
# A panel's y axis ends at CLIP times its largest median when an error bar
# goes beyond: one wild repetition must not flatten every other bar.
CLIP = 1.6

plt.rcParams.update({
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "svg.fonttype": "none",
    "svg.hashsalt": "kevent-report",
})


def mech_key(m):
    return (m == BOUND, ORDER.index(m) if m in ORDER else len(ORDER), m)


def style(m):
    if m in STYLE:
        return STYLE[m]
    h = zlib.crc32(m.encode())
    return SPARE_COLORS[h % len(SPARE_COLORS)], SPARE_MARKERS[(h // 7) % len(SPARE_MARKERS)]


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            r["params_d"] = dict(p.split("=", 1) for p in r["params"].split(";") if "=" in p)
            if r["value"]:
                for k in ("value", "min", "max"):
                    r[k] = float(r[k])
            else:
                r["value"] = None
            rows.append(r)
    return rows


def is_time(metric):
    return "ns" in metric.split("_")


def is_rate(metric):
    """A rate (requests per second): its table cells get a ratio to epoll
    too, higher being better; the summary (times) leaves it out."""
    return metric.endswith("_per_s")


def metric_label(metric, short=False):
    if metric in METRICS:
        return METRICS[metric][short]
    words = [w for w in metric.split("_") if w != "ns"]
    return ("time " if is_time(metric) and words[:1] == ["per"] else "") + " ".join(words)


def time_unit(vmax):
    """The unit and divisor for times whose largest value is vmax ns."""
    if vmax >= 1e7:
        return "ms", 1e6
    if vmax >= 1e4:
        return "µs", 1e3
    return "ns", 1.0


def fmt(v, metric):
    if is_time(metric):
        return f"{v:.0f} ns" if v >= 10 else f"{v:.1f} ns"
    return f"{v:.2f}"


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def slug(s):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_")


def short_num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:#.3g}".rstrip(".")


# ---------------------------------------------------------------- tables

def table(runs, workload, notes):
    """The Markdown table of one workload, every run: per cell the ratio to
    epoll for times, then the median and min-max of the repetitions."""
    wrows = [(label, r) for label, rows in runs for r in rows if r["workload"] == workload]
    mechs = sorted({r["mechanism"] for _, r in wrows}, key=mech_key)
    out = ["| run | params | metric | " + " | ".join(mechs) + " |",
           "|---|---|---|" + "---|" * len(mechs)]
    for label, rows in runs:
        mine = [r for r in rows if r["workload"] == workload]
        groups = defaultdict(dict)
        by_metric = defaultdict(dict)
        metrics = defaultdict(list)
        for r in mine:
            groups[r["params"]][r["mechanism"]] = r
            if r["value"] is not None:
                by_metric[(r["params"], r["metric"])][r["mechanism"]] = r
                if r["metric"] not in metrics[r["params"]]:
                    metrics[r["params"]].append(r["metric"])
        for p in groups:
            for metric in metrics[p]:
                m = by_metric[(p, metric)]
                base = m.get(BASELINE)
                cells = []
                for name in mechs:
                    r = m.get(name)
                    na = groups[p].get(name)
                    if r is None:
                        if na is not None and na["value"] is None:
                            n = notes.setdefault(na["note"], len(notes) + 1)
                            cells.append(f"n/a [{n}]")
                        else:
                            cells.append("")
                        continue
                    digits = 0 if is_time(metric) else 2
                    spread = f"{r['min']:.{digits}f}-{r['max']:.{digits}f}"
                    v = fmt(r["value"], metric)
                    # Ratios of times and rates; counts (wake-ups per
                    # event) stand alone.
                    if base and base["value"] and (is_time(metric) or is_rate(metric)):
                        cells.append(f"**{r['value'] / base['value']:.2f}** ({v}; {spread})")
                    else:
                        cells.append(f"{v} ({spread})")
                out.append(f"| {label} | {p.replace(';', ' ')} | {metric} | " + " | ".join(cells) + " |")
    return out


# ---------------------------------------------------------------- figures

def figure_groups(runs):
    """(workload, metric, split, x_key) for every figure, in CSV order:
    split is a tuple of (key, value) of the varying non-numeric parameters
    (one figure each), x_key the numeric parameter that varies (or None)."""
    found = []
    by_wm = defaultdict(list)
    for _, rows in runs:
        for r in rows:
            if r["value"] is not None:
                if (r["workload"], r["metric"]) not in by_wm:
                    found.append((r["workload"], r["metric"]))
                by_wm[(r["workload"], r["metric"])].append(r)
    groups = []
    for w, m in found:
        rows = by_wm[(w, m)]
        keys = list(dict.fromkeys(k for r in rows for k in r["params_d"]))
        varying = [k for k in keys if len({r["params_d"].get(k) for r in rows}) > 1]
        x_key = next((k for k in varying
                      if all(num(r["params_d"].get(k, "")) is not None for r in rows)), None)
        split_keys = []
        for k in varying:
            if k == x_key:
                continue
            if x_key is not None:
                # Keys that follow from x (active = min(100, N)) do not split.
                seen = defaultdict(set)
                for r in rows:
                    seen[r["params_d"].get(x_key)].add(r["params_d"].get(k))
                if all(len(s) == 1 for s in seen.values()):
                    continue
            split_keys.append(k)
        splits = list(dict.fromkeys(tuple((k, r["params_d"].get(k)) for k in split_keys) for r in rows))
        for split in splits:
            groups.append((w, m, split, x_key))
    return groups


def select(rows, workload, metric, split):
    """The measured rows of one figure panel, and its n/a rows."""
    def match(r):
        return r["workload"] == workload and all(r["params_d"].get(k) == v for k, v in split)
    measured = [r for r in rows if match(r) and r["metric"] == metric and r["value"] is not None]
    na = [r for r in rows if match(r) and r["value"] is None]
    return measured, na


def const_params(rows, skip):
    keys = list(dict.fromkeys(k for r in rows for k in r["params_d"]))
    out = []
    for k in keys:
        if k in skip:
            continue
        vals = list(dict.fromkeys(r["params_d"].get(k) for r in rows))
        if len(vals) == 1 and vals[0] is not None:
            v = num(vals[0])
            out.append(f"{k}={short_num(v) if v is not None and v >= 1000 else vals[0]}")
    return " ".join(out)


def y_axis(ax, tops, medians, zero, bottoms=None):
    """Round ticks; the top clipped at CLIP x the largest median when an
    error bar goes beyond. Returns the top (in plotted units)."""
    ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,g}"))
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    hi = max(tops)
    top = hi * 1.16  # room for the value labels above the bars
    if max(medians) > 0 and hi > CLIP * max(medians):
        top = CLIP * max(medians)
    if zero:
        ax.set_ylim(0, top if top > 0 else 1)
    else:
        lo = min(bottoms)
        pad = (max(tops) - lo) * 0.15 or abs(lo) * 0.01 or 0.01
        ax.set_ylim(lo - pad, min(top, max(tops)) + pad)
    return ax.get_ylim()[1]


def mark_clipped(ax, x, hi, top, color, unit_text):
    """A bar cut at the top of the plot: a triangle there and its max."""
    ax.plot([x], [top], marker="^", color=color, markersize=7, clip_on=False, zorder=5)
    # The label on the side with room: left of a bar in the right half.
    right = ax.transAxes.inverted().transform(ax.transData.transform((x, top)))[0] > 0.6
    ax.annotate(f"max {short_num(hi)} {unit_text}".strip(), (x, top),
                xytext=(-6 if right else 6, -10), textcoords="offset points", fontsize=7.5,
                color=color, ha="right" if right else "left", va="top",
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=color, lw=0.6))


def line_panel(ax, rows, metric, x_key, scale, unit_text):
    """Median against x, min-max error bars; log x when x spans a decade."""
    mechs = sorted({r["mechanism"] for r in rows}, key=mech_key)
    xs = sorted({float(r["params_d"][x_key]) for r in rows})
    log = xs[-1] / xs[0] >= 10 if xs[0] > 0 else False
    medians = [r["value"] / scale for r in rows]
    tops = [r["max"] / scale for r in rows]
    top = y_axis(ax, tops, medians, zero=True)
    k = len(mechs)
    clipped = []
    for i, m in enumerate(mechs):
        pts = sorted((float(r["params_d"][x_key]), r["value"] / scale, r["min"] / scale,
                      r["max"] / scale) for r in rows if r["mechanism"] == m)
        # Spread the mechanisms a little along x so their bars do not hide
        # one another.
        off = (i - (k - 1) / 2) * 0.018
        px = [x * 10 ** off if log else x + off * (xs[-1] - xs[0] or 1) for x, *_ in pts]
        color, marker = style(m)
        ax.errorbar(px, [p[1] for p in pts],
                    yerr=[[p[1] - p[2] for p in pts], [max(0, p[3] - p[1]) for p in pts]],
                    color=color, marker=marker, markersize=5, linewidth=1.6, capsize=3,
                    elinewidth=1, linestyle="--" if m == BOUND else "-",
                    mfc="white" if m == BOUND else color, label=m)
        clipped += [(x, hi, color) for x, (_, _, _, hi) in zip(px, pts) if hi > top * 1.001]
    if log:
        ax.set_xscale("log")
        ax.set_xlim(xs[0] / 1.6, xs[-1] * 1.6)
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=6, integer=True))
        pad = (xs[-1] - xs[0]) * 0.08 or 1
        ax.set_xlim(xs[0] - pad, xs[-1] + pad)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,g}"))
    ax.set_xlabel(PARAMS.get(x_key, x_key) + (" (log scale)" if log else ""))
    for x, hi, color in clipped:
        mark_clipped(ax, x, hi, top, color, unit_text)
    return mechs


def bar_panel(ax, rows, na, metric, scale, unit_text, zero):
    """One bar (or point, when the axis cannot start at 0) per mechanism:
    the median, a min-max error bar; n/a where the mechanism has no form."""
    mechs = sorted({r["mechanism"] for r in rows} | {r["mechanism"] for r in na}, key=mech_key)
    by = {r["mechanism"]: r for r in rows}
    medians = [r["value"] / scale for r in rows]
    tops = [r["max"] / scale for r in rows]
    top = y_axis(ax, tops, medians, zero, [r["min"] / scale for r in rows])
    base = by.get(BASELINE)
    # Room for four bars at least: two do not fill a panel.
    pad = max(0.0, (4 - len(mechs)) / 2)
    ax.set_xlim(-0.6 - pad, len(mechs) - 0.4 + pad)
    for i, m in enumerate(mechs):
        color, marker = style(m)
        r = by.get(m)
        if r is None:
            ax.text(i, 0.02, "n/a", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    color="#888888", fontsize=8, style="italic")
            continue
        v, lo, hi = r["value"] / scale, r["min"] / scale, r["max"] / scale
        if zero:
            ax.bar(i, v, width=0.7, color=color, alpha=0.85, label=m,
                   hatch="//" if m == BOUND else None, edgecolor="white" if m == BOUND else color)
        ax.errorbar([i], [v], yerr=[[v - lo], [max(0, hi - v)]], color="black" if zero else color,
                    marker=None if zero else marker, markersize=7, capsize=4, elinewidth=1,
                    label=None if zero else m)
        text = short_num(v) if zero else f"{v:.3f}"
        if base and base["value"] and (is_time(metric) or is_rate(metric)):
            text += f"\n{r['value'] / base['value']:.2f}x"
        if hi > top * 1.001:
            mark_clipped(ax, i, hi, top, color, unit_text)
            ax.annotate(text, (i, v), xytext=(-4, 3), textcoords="offset points",
                        ha="right", va="bottom", fontsize=7.5)
        else:
            ax.annotate(text, (i, hi), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7.5)
    ax.set_xticks(range(len(mechs)))
    ax.set_xticklabels(mechs, rotation=25, ha="right")
    return set(by)


def save(fig, out, name):
    paths = []
    for ext in ("svg", "png"):
        p = out / f"{name}.{ext}"
        fig.savefig(p, dpi=110, metadata={"Date": None} if ext == "svg" else {"Software": None})
        paths.append(p)
    plt.close(fig)
    return paths


def legend(fig, mechs, note, height, reference=False):
    """The mechanisms under the panels, and a note under them; returns the
    inches they take at the bottom of a figure of that height."""
    handles = []
    if reference:
        handles.append(Line2D([], [], color="black", linewidth=1.2,
                              label=f"{BASELINE} (level-triggered): the reference, 1.0"))
    for m in sorted(mechs, key=mech_key):
        color, marker = style(m)
        handles.append(Line2D([], [], color=color, marker=marker, linewidth=1.6,
                              linestyle="--" if m == BOUND else "-",
                              mfc="white" if m == BOUND else color,
                              label=m + (" (the bound)" if m == BOUND else "")))
    width = fig.get_size_inches()[0]
    ncol = max(1, min(len(handles), 4, int(width / 2.4)))
    rows = -(-len(handles) // ncol)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False,
               bbox_to_anchor=(0.5, 0.3 / height))
    fig.text(0.5, 0.08 / height, note, ha="center", va="bottom", fontsize=7.5, color="#444444")
    return 0.45 + 0.22 * rows


def reps_note(rows):
    reps = sorted({int(r["reps"]) for r in rows if r["reps"]})
    n = "/".join(map(str, reps)) or "?"
    return (f"Marker: median of {n} repetitions; error bar: their min and max. "
            f"▲ an error bar cut at the top of the plot, its max beside it.")


def workload_figure(out, runs, workload, metric, split, x_key):
    panels = []
    for label, rows in runs:
        measured, na = select(rows, workload, metric, split)
        if measured:
            panels.append((label, measured, na))
    if not panels:
        return None
    time = is_time(metric)
    fraction = metric.endswith("_fraction")
    unit_text, scale = time_unit(max(r["value"] for _, ms, _ in panels for r in ms)) if time else ("", 1.0)
    width, height = max(5.2 * len(panels) + 0.6, 8.5), 5.0
    fig, axes = plt.subplots(1, len(panels), figsize=(width, height), squeeze=False)
    mechs = set()
    for ax, (label, measured, na) in zip(axes[0], panels):
        skip = {k for k, _ in split} | ({x_key} if x_key else set())
        ax.set_title(RUNS.get(label, label) + "\n" + const_params(measured, skip), fontsize=9, pad=8)
        if x_key:
            mechs |= set(line_panel(ax, measured, metric, x_key, scale, unit_text))
        else:
            mechs |= set(bar_panel(ax, measured, na, metric, scale, unit_text, zero=not fraction))
        ax.set_ylabel(metric_label(metric) + (f" ({unit_text})" if unit_text else ""))
    what = " ".join(v for _, v in split)
    fig.suptitle(f"{workload}{' ' + what if what else ''}: {metric_label(metric)}",
                 fontsize=12, fontweight="bold", y=0.985)
    if workload in WORKLOADS:
        fig.text(0.5, 0.915, WORKLOADS[workload], ha="center", fontsize=9, color="#444444")
    below = legend(fig, mechs, reps_note([r for _, ms, _ in panels for r in ms]), height)
    # Room for the x axis: its label, or the mechanisms' names at an angle.
    below += 0.55 if x_key else 0.85
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.25 / width, top=1 - 1.0 / height,
                        bottom=below / height, wspace=0.22 + 0.5 / width)
    name = slug("-".join([workload, *[v for _, v in split], metric]))
    save(fig, out, name)
    return name, f"{workload}{' ' + what if what else ''}: {metric_label(metric)}"


def summary_rows(rows):
    """(label, {mechanism: ratio}) for every time metric epoll has."""
    wl_rows = defaultdict(list)
    for r in rows:
        if r["value"] is not None:
            wl_rows[(r["workload"], r["metric"])].append(r)
    out = []
    seen = set()
    for r in rows:
        key = (r["workload"], r["params"], r["metric"])
        if r["value"] is None or not is_time(r["metric"]) or key in seen:
            continue
        seen.add(key)
        same = [x for x in wl_rows[(r["workload"], r["metric"])] if x["params"] == r["params"]]
        base = next((x for x in same if x["mechanism"] == BASELINE), None)
        if base is None or not base["value"]:
            continue
        siblings = wl_rows[(r["workload"], r["metric"])]
        varying = [k for k in r["params_d"]
                   if len({x["params_d"].get(k) for x in siblings}) > 1]
        n_metrics = len({x["metric"] for x in rows if x["workload"] == r["workload"]
                         and x["value"] is not None})
        parts = [r["workload"]]
        for k in varying:
            v = r["params_d"][k]
            parts.append(v if num(v) is None else f"{'N' if k == 'pairs' else k}={short_num(float(v))}")
        if n_metrics > 1:
            parts.append(metric_label(r["metric"], short=True))
        out.append((key, " ".join(parts),
                    {x["mechanism"]: x["value"] / base["value"] for x in same
                     if x["mechanism"] != BASELINE}))
    return out


def summary_figure(out, runs):
    per_run = [(label, summary_rows(rows)) for label, rows in runs]
    per_run = [(label, s) for label, s in per_run if s]
    if not per_run:
        return None
    order = list(dict.fromkeys((key, text) for _, s in per_run for key, text, _ in s))
    index = {key: i for i, (key, _) in enumerate(order)}
    ratios = [v for _, s in per_run for _, _, d in s for v in d.values() if v > 0]
    lo = min(min(ratios), 0.5) / 1.4
    hi = max(max(ratios), 2.0) * 1.4
    height = 0.3 * len(order) + 2.8
    # Room on the left for the longest row label (about 0.065 in per
    # character at this size).
    label_in = max(2.3, 0.065 * max(len(text) for _, text in order) + 0.2)
    width = max(4.6 * len(per_run) + label_in + 0.3, 9.5)
    fig, axes = plt.subplots(1, len(per_run), figsize=(width, height), sharey=True, squeeze=False)
    mechs = set()
    for ax, (label, s) in zip(axes[0], per_run):
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.axvspan(lo, 1, color="#e8f4e8", zorder=0)
        ax.axvspan(1, hi, color="#f8e8e8", zorder=0)
        ax.axvline(1, color="black", linewidth=1.2, zorder=1)
        for i in range(len(order)):
            if i % 2:
                ax.axhspan(i - 0.5, i + 0.5, color="white", alpha=0.5, zorder=0, linewidth=0)
        # A line between workloads.
        prev = None
        for i, (key, _) in enumerate(order):
            if prev is not None and key[0] != prev:
                ax.axhline(i - 0.5, color="#999999", linewidth=0.6, zorder=1)
            prev = key[0]
        names = sorted({m for _, _, d in s for m in d}, key=mech_key)
        mechs |= set(names)
        k = len(names)
        for j, m in enumerate(names):
            color, marker = style(m)
            pts = [(d[m], index[key] + (j - (k - 1) / 2) * 0.11) for key, _, d in s if m in d]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=color, marker=marker,
                       s=30, zorder=3, facecolors="none" if m == BOUND and marker != "x" else color,
                       linewidths=1.3, label=m)
        ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
                 if lo <= t <= hi]
        ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.grid(axis="x", color="#bbbbbb", linewidth=0.6, linestyle=":")
        ax.set_title(RUNS.get(label, label), fontsize=9.5, pad=16)
        ax.text(0.97, 1.0, "slower than epoll →", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="#a02020")
        ax.text(0.03, 1.0, "← faster than epoll", transform=ax.transAxes,
                ha="left", va="bottom", fontsize=8, color="#207020")
        ax.set_xlabel("time ÷ level-triggered epoll's (log scale)")
        ax.set_ylim(len(order) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
    axes[0][0].set_yticks(range(len(order)))
    axes[0][0].set_yticklabels([text for _, text in order])
    fig.suptitle("Every mechanism against epoll: median time, ratio to level-triggered epoll",
                 fontsize=12, fontweight="bold")
    below = legend(fig, mechs, "Ratios of medians measured in the same VM run; "
                   "counts (wake-ups) are in the tables, not here.", height, reference=True)
    fig.subplots_adjust(left=label_in / width, right=1 - 0.2 / width, top=1 - 0.95 / height,
                        bottom=(below + 0.5) / height, wspace=0.06)
    save(fig, out, "summary")
    return "summary"


def build(out, runs):
    """Writes OUT/table.md and OUT/figures/*; runs: [(label, rows)].
    Returns the figure names (each has .svg and .png)."""
    out = Path(out)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    md, names = [], []
    summary = summary_figure(figs, runs)
    if summary:
        names.append(summary)
        md += ["## Summary", "",
               f"[![Every mechanism's time as a ratio to epoll's](figures/{summary}.svg)]"
               f"(figures/{summary}.png)", "",
               "Each marker: a mechanism's median time divided by level-triggered epoll's in the "
               "same VM run, for every workload and time metric (log scale; left of the line "
               "at 1, in green, is faster than epoll). " + runs_line(runs), ""]
    md += ["### Reading the figures and tables", "",
           "Markers and bars: the median of the repetitions (`reps` in the CSV: 5 runs, or "
           "criterion's samples for per-call); error bars: their min and max. When one "
           f"repetition is far off, a panel's y axis stops at {CLIP} times its largest median "
           "and a ▲ marks the cut bar, with its max beside it. Time axes start at 0. Each "
           "table cell: **ratio to epoll** (level-triggered) for times, then the median and "
           "its min-max; counts (wake-ups per event) as they are. An empty cell: the "
           "mechanism has no such call; n/a [k]: no natural form, the reason below the table. "
           "Every figure is in `figures/` as SVG (shown here) and PNG (a click on the figure).",
           ""]
    groups = figure_groups(runs)
    notes = {}
    workloads = list(dict.fromkeys(r["workload"] for _, rows in runs for r in rows))
    for w in workloads:
        md += [f"## {w}", ""]
        if w in WORKLOADS:
            md += [WORKLOADS[w] + " (benches/README.md).", ""]
        for gw, metric, split, x_key in groups:
            if gw != w:
                continue
            made = workload_figure(figs, runs, w, metric, split, x_key)
            if made:
                name, title = made
                names.append(name)
                md += [f"[![{title}](figures/{name}.svg)](figures/{name}.png)", ""]
        start = len(notes)
        md += table(runs, w, notes)
        md.append("")
        for note, n in list(notes.items())[start:]:
            md.append(f"[{n}] {note}  ")
        md.append("")
    (out / "table.md").write_text("\n".join(md) + "\n")
    return names


def runs_line(runs):
    return "Runs: " + "; ".join(RUNS.get(label, label) for label, _ in runs) + \
        ", each in its own panel."


def main():
    if len(sys.argv) < 3 or any("=" not in a for a in sys.argv[2:]):
        sys.exit(__doc__.split("\n\n")[1])
    runs = []
    for arg in sys.argv[2:]:
        label, path = arg.split("=", 1)
        runs.append((label, load(path)))
    build(sys.argv[1], runs)


if __name__ == "__main__":
    main()
