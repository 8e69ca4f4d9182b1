#!/usr/bin/env python3
"""Host test of benches/report.py: builds the report from the CSV fixture
(fixtures/results-{tcg,icount}.csv: every workload of benches/README.md's
measured run, both run kinds, n/a cells, and a herd time whose max is ten
times its median) into a temporary folder and checks that every expected
figure exists, as SVG and PNG, non-empty, and that table.md embeds them in
order. Looking at the figures is for people. Also benches/webserver/guest.py's
parsing of wrk's output and its CSV rows (the web-server workload), and
benches/insn-profile/symbolize.py's profiles by function.

    /usr/bin/python3 benches/tests/test_report.py   # ci/test.sh runs it

Ends with "report: N passed, N failed".
"""
import csv
import io
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(HERE.parent))
import report  # noqa: E402

FIXTURES = HERE / "fixtures"
RUNS = [("tcg", FIXTURES / "results-tcg.csv"), ("icount", FIXTURES / "results-icount.csv")]

# Every figure the fixture must give, summary first.
EXPECTED = [
    "summary",
    "libevent-bench-ns_per_event",
    "oneshot-rearm-ns_per_event",
    "timers-cpu_ns_per_expiration",
    "timers-process_ns_per_expiration",
    "timers-setup_ns_per_timer",
    "timers-delivered_fraction",
    "herd-wakeups_per_event",
    "herd-ns_per_event",
    "herd-spurious_per_event",
    "per-call-ctl_add_remove_1-ns_per_call",
    "per-call-ctl_add_remove_64-ns_per_call",
    "per-call-empty_wait-ns_per_call",
    "per-call-ready_64-ns_per_call",
]


def check_figure(test, path):
    test.assertTrue(path.is_file(), f"{path} missing")
    test.assertGreater(path.stat().st_size, 1000, f"{path} (nearly) empty")
    data = path.read_bytes()
    if path.suffix == ".png":
        test.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n", f"{path} is no PNG")
    else:
        test.assertTrue(ET.fromstring(data).tag.endswith("svg"), f"{path} is no SVG")


def embedded(table_md):
    """The figure names table.md embeds, in order."""
    names = []
    for line in table_md.splitlines():
        if line.startswith("[![") and "](figures/" in line:
            svg = line.split("](figures/", 1)[1].split(")", 1)[0]
            names.append(svg.rsplit(".", 1)[0])
    return names


class FixtureReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = Path(cls.tmp.name) / "report"
        # As ci/main.sh runs it: the command line.
        subprocess.run([sys.executable, str(HERE.parent / "report.py"), str(cls.out),
                        *(f"{label}={path}" for label, path in RUNS)], check=True)
        cls.table = (cls.out / "table.md").read_text()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_every_figure_as_svg_and_png(self):
        for name in EXPECTED:
            for ext in ("svg", "png"):
                with self.subTest(figure=f"{name}.{ext}"):
                    check_figure(self, self.out / "figures" / f"{name}.{ext}")

    def test_no_unexpected_figure(self):
        made = sorted(p.name for p in (self.out / "figures").iterdir())
        self.assertEqual(made, sorted(f"{n}.{e}" for n in EXPECTED for e in ("svg", "png")))

    def test_table_embeds_figures_in_reading_order(self):
        self.assertEqual(embedded(self.table), EXPECTED)
        for name in EXPECTED:
            self.assertIn(f"(figures/{name}.png)", self.table)

    def test_table_has_both_runs_ratios_and_na_notes(self):
        lines = self.table.splitlines()
        rows = [line for line in lines if line.startswith("| tcg |") or line.startswith("| icount |")]
        self.assertEqual(sum(r.startswith("| tcg |") for r in rows), 17)
        self.assertEqual(sum(r.startswith("| icount |") for r in rows), 17)
        self.assertIn("**1.09** (3151 ns", self.table)  # kevent, libevent-bench N=100, icount
        self.assertIn("n/a [1]", self.table)
        self.assertIn("[4] a ring has one consumer", self.table)

    def test_sections_in_order(self):
        heads = [line for line in self.table.splitlines() if line.startswith("## ")]
        self.assertEqual(heads, ["## Summary", "## libevent-bench", "## oneshot-rearm",
                                 "## timers", "## herd", "## per-call"])

    def test_runs_are_labelled_in_every_figure(self):
        for name in EXPECTED:
            svg = (self.out / "figures" / f"{name}.svg").read_text()
            with self.subTest(figure=name):
                self.assertIn("QEMU TCG", svg)
                self.assertIn("QEMU -icount", svg)

    def test_huge_error_bar_is_clipped_and_labelled(self):
        svg = (self.out / "figures" / "herd-ns_per_event.svg").read_text()
        self.assertIn("max 4", svg)  # io_uring's tcg max, 4xx µs, written at the cut


NEW_CSV = """workload,params,mechanism,metric,value,reps,min,max,note
echo,connections=10;bytes=64,epoll,ns_per_request,9000,5,8900,9100,
echo,connections=10;bytes=64,kqueue,ns_per_request,9500,5,9400,9700,
echo,connections=10;bytes=64,io_uring-multishot,ns_per_request,8000,5,7900,8300,
echo,connections=1000;bytes=64,epoll,ns_per_request,9900,5,9800,10100,
echo,connections=1000;bytes=64,kqueue,ns_per_request,10500,5,10000,11000,
echo,connections=1000;bytes=64,io_uring-multishot,,,0,,,"no such thing, here"
web-server,page=small,epoll,requests_per_s,1200,5,1100,1300,
web-server,page=small,kevent-aio,requests_per_s,1500,5,1400,1600,
web-server,page=large,epoll,requests_per_s,300,5,280,310,
web-server,page=large,kevent-aio,requests_per_s,450,5,420,470,
"""


class NewWorkloads(unittest.TestCase):
    """Workloads, metrics and mechanisms report.py has never heard of get
    figures by the same rules, with no code change."""

    def test_unknown_workloads_and_mechanisms(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "results-new.csv"
            path.write_text(NEW_CSV)
            names = report.build(Path(tmp) / "out", [("tcg", report.load(path))])
            self.assertEqual(names, ["summary", "echo-ns_per_request",
                                     "web-server-small-requests_per_s",
                                     "web-server-large-requests_per_s"])
            for name in names:
                for ext in ("svg", "png"):
                    check_figure(self, Path(tmp) / "out" / "figures" / f"{name}.{ext}")
            table = (Path(tmp) / "out" / "table.md").read_text()
            self.assertIn("[1] no such thing, here", table)

    def test_colours_are_fixed_per_mechanism(self):
        self.assertEqual(report.style("kevent"), report.STYLE["kevent"])
        a, b = report.style("some-new-mechanism"), report.style("some-new-mechanism")
        self.assertEqual(a, b)
        colours = [report.style(m)[0] for m in report.STYLE]
        self.assertEqual(len(colours), len(set(colours)))

    def test_labels_from_metric_names(self):
        self.assertEqual(report.metric_label("ns_per_request"), "time per request")
        self.assertEqual(report.metric_label("connections_per_s"), "connections per s")
        self.assertTrue(report.is_time("cpu_ns_per_expiration"))
        self.assertFalse(report.is_time("wakeups_per_event"))
        # A rate: a ratio to epoll in the tables, not in the summary.
        self.assertTrue(report.is_rate("requests_per_s"))
        self.assertFalse(report.is_time("requests_per_s"))
        self.assertFalse(report.is_rate("ns_per_event"))

    def test_rates_get_a_ratio_to_epoll(self):
        rows = [
            {"workload": "lighttpd", "params": "file=1KiB;http=close;connections=100",
             "mechanism": m, "metric": "requests_per_s", "value": v, "reps": "2",
             "min": v, "max": v, "note": "", "params_d": {}}
            for m, v in (("epoll", 2000.0), ("kqueue", 2500.0))
        ]
        md = "\n".join(report.table([("tcg", rows)], "lighttpd", {}))
        self.assertIn("**1.25** (2500.00", md)
        self.assertEqual(report.summary_rows(rows), [])


# What kevent-echo writes (benches/src/bin/kevent-echo): two message
# sizes, connections along x, a mechanism the kernel lacks.
ECHO_CSV = "workload,params,mechanism,metric,value,reps,min,max,note\n" + "".join(
    f"echo,connections={n};message={size}B,{m},{metric},{v * k},3,{v * k * 0.99},{v * k * 1.01},\n"
    for size in (128, 512) for n in (1, 50, 300, 1000)
    for m, k in (("epoll", 1.0), ("io_uring", 0.9), ("io_uring-multishot", 0.8), ("kevent-socket", 1.05))
    for metric, v in (("requests_per_s", 40000.0), ("cpu_ns_per_request", 9000.0),
                      ("syscalls_per_request", 2.0))
) + "".join(
    f"echo,connections={n};message={size}B,kevent-aio,,,0,,,\"this kernel has no KEVENT_NAIO\"\n"
    for size in (128, 512) for n in (1, 50, 300, 1000))


class EchoRows(unittest.TestCase):
    """kevent-echo's rows: a figure per message size and metric against
    the connections, server CPU per request in the summary, requests/s
    with a ratio to epoll in the table, the n/a reason once."""

    def test_echo_figures_and_table(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "results-echo.csv"
            path.write_text(ECHO_CSV)
            rows = report.load(path)
            names = report.build(Path(tmp) / "out", [("icount", rows)])
            self.assertEqual(names, ["summary"] + [
                f"echo-{size}B-{metric}" for metric in
                ("requests_per_s", "cpu_ns_per_request", "syscalls_per_request")
                for size in (128, 512)])
            for name in names:
                check_figure(self, Path(tmp) / "out" / "figures" / f"{name}.svg")
            table = (Path(tmp) / "out" / "table.md").read_text()
            self.assertIn("**0.90** (36000.00", table)  # io_uring requests/s
            self.assertIn("**0.80** (7200 ns", table)  # multishot CPU/request
            self.assertIn("[1] this kernel has no KEVENT_NAIO", table)
            self.assertNotIn("[2]", table)
            labels = [text for _, text, _ in report.summary_rows(rows)]
            self.assertIn("echo connections=300 128B server CPU/request", labels)
            self.assertFalse(any("requests/s" in t for t in labels))


# benches/webserver/guest.py runs in the VM; its parsing of wrk's output
# and its CSV are checked here, on the host.
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("guest", HERE.parent / "webserver" / "guest.py")
guest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guest)

WRK_OK = """Running 3s test @ http://127.0.0.1:8080/1KiB
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.78ms    2.36ms  18.94ms   60.86%
    Req/Sec    18.17k     4.25k   33.15k    81.67%
  Latency Distribution
     50%  830.00us
     75%    4.17ms
     90%    5.95ms
     99%    1.20s
  108811 requests in 3.02s, 123.38MB read
Requests/sec:  36027.09
Transfer/sec:     40.85MB
"""
WRK_ERRORS = WRK_OK.replace(
    "Requests/sec:",
    "  Socket errors: connect 3, read 2, write 0, timeout 7\n"
    "  Non-2xx or 3xx responses: 5\nRequests/sec:")


class WebServerGuest(unittest.TestCase):
    def test_wrk_output(self):
        r = guest.parse_wrk(WRK_OK)
        self.assertEqual(r["requests"], 108811)
        self.assertAlmostEqual(r["requests_per_s"], 36027.09)
        self.assertAlmostEqual(r["latency_p50_ns"], 830e3)
        self.assertAlmostEqual(r["latency_p99_ns"], 1.2e9)
        self.assertEqual(r["errors"], 0)

    def test_wrk_errors_are_counted(self):
        # connect + read + write + timeout + non-2xx
        self.assertEqual(guest.parse_wrk(WRK_ERRORS)["errors"], 17)

    def test_unparsable_output_gives_none(self):
        r = guest.parse_wrk("wrk: connection refused")
        self.assertIsNone(r["requests_per_s"])
        self.assertIsNone(r["latency_p99_ns"])

    def test_csv_keeps_earlier_rows_and_rewrites_its_own(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.csv")
            with open(path, "w") as f:
                f.write(",".join(guest.FIELDS) + "\nx,a=1,epoll,ns_per_event,5,1,5,5,\n")
            start = os.path.getsize(path)
            rep = {"requests_per_s": 100.0, "latency_p50_ns": 1e6, "latency_p99_ns": 2e6,
                   "cpu_ns_per_request": 5e4, "errors": 0}
            results = {("nginx", ("1KiB", "close", 100), "kqueue"): [rep]}
            guest.write_csv(path, start, results, ["nginx"])
            results[("nginx", ("1KiB", "close", 100), "kqueue")].append(dict(rep, requests_per_s=300.0))
            guest.write_csv(path, start, results, ["nginx"])
            rows = list(csv.DictReader(open(path)))
        self.assertEqual(rows[0]["workload"], "x")
        rps = [r for r in rows if r["metric"] == "requests_per_s"]
        self.assertEqual(len(rps), 1)
        self.assertEqual((rps[0]["value"], rps[0]["reps"], rps[0]["min"], rps[0]["max"]),
                         ("200", "2", "100", "300"))
        self.assertEqual(rps[0]["params"], "file=1KiB;http=close;connections=100")
        self.assertEqual(len(rows), 1 + 5)


def load_symbolize():
    """benches/insn-profile/symbolize.py (its folder's name has a dash)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "symbolize", HERE.parent / "insn-profile" / "symbolize.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class InsnProfile(unittest.TestCase):
    """benches/insn-profile/symbolize.py: windows to instructions per
    iteration by function (the plugin itself runs only under QEMU)."""

    def setUp(self):
        self.sym = load_symbolize()
        self.dir = tempfile.TemporaryDirectory()
        d = Path(self.dir.name)
        (d / "System.map").write_text(
            "ffffffff81000000 T a_func\nffffffff81000100 t b_func\n"
            "ffffffff81000200 D some_data\n")
        self.map = str(d / "System.map")
        (d / "w.1").write_text("# window 1\nffffffff81000000 4 400\n"
                               "ffffffff81000010 2 200\nffffffff81000100 3 300\n"
                               "401000 5 50\n")
        (d / "w.2").write_text("# window 2\nffffffff81000000 4 800\n")
        self.d = d

    def tearDown(self):
        self.dir.cleanup()

    def test_by_symbol(self):
        syms = self.sym.Symbols(self.map, [])
        window, tbs = self.sym.read_profile(self.d / "w.1")
        self.assertEqual(window, 1)
        per = self.sym.by_symbol(tbs, syms, 100)
        self.assertEqual(per, {"[k] a_func": 6.0, "[k] b_func": 3.0, "[u] ?": 0.5})

    def test_maps_bases(self):
        maps = self.d / "maps"
        maps.write_text(
            "555555554000-555555560000 r--p 00000000 00:0d 7 /usr/bin/prog\n"
            "555555560000-555555570000 r-xp 0000c000 00:0d 7 /usr/bin/prog\n"
            "7ffff7c00000-7ffff7c28000 r--p 00000000 00:0d 9 /lib/libc.so.6\n"
            "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n")
        self.assertEqual(sorted(self.sym.maps_bases(str(maps))),
                         ["/lib/libc.so.6@0x7ffff7c00000", "/usr/bin/prog@0x555555554000"])

    def test_diff_cli(self):
        out = subprocess.run(
            [sys.executable, str(HERE.parent / "insn-profile" / "symbolize.py"),
             str(self.d / "w.1"), "--iterations", "100", "--kernel", self.map,
             "--diff", str(self.d / "w.2"), "--iterations2", "100"],
            capture_output=True, text=True, check=True).stdout
        self.assertIn("B-A -1.5 instructions per iteration", out)
        self.assertRegex(out, r"6\.0 +8\.0 +\+2\.0  \[k\] a_func")

    def hot_program(self):
        """A program with line tables, and the address of its hot()."""
        src = self.d / "prog.c"
        src.write_text("int hot(int x)\n{\n\treturn x * 3;\n}\n\n"
                       "int main(int c, char **v)\n{\n\treturn hot(c);\n}\n")
        prog = self.d / "prog"
        subprocess.run(["gcc", "-O0", "-g", "-o", str(prog), str(src)], check=True)
        nm = subprocess.run(["nm", str(prog)], capture_output=True, text=True,
                            check=True).stdout
        hot = next(int(line.split()[0], 16) for line in nm.splitlines()
                   if line.endswith(" hot"))
        return prog, hot

    def test_lines_cli(self):
        # A program with line tables; one TB of two instructions at the
        # start of hot(), run 300 times in 100 iterations.
        prog, hot = self.hot_program()
        (self.d / "w.3").write_text(f"# window 3\n{hot:x} 2 600\nffffffff81000000 4 400\n")
        out = subprocess.run(
            [sys.executable, str(HERE.parent / "insn-profile" / "symbolize.py"),
             str(self.d / "w.3"), "--iterations", "100", "--lines", str(prog)],
            capture_output=True, text=True, check=True).stdout
        self.assertIn("6.0 instructions per iteration in", out)
        # Both instructions (push, mov) are the function's opening line.
        self.assertRegex(out, r"\n +6\.0  \S*prog\.c:2  hot\n")

    def test_annotate_cli(self):
        # The same TB, with the program loaded at 0x10000000 (--user
        # BINARY@BASE): --annotate shows each instruction's count at its
        # loaded address.
        prog, hot = self.hot_program()
        base = 0x10000000
        (self.d / "w.4").write_text(f"# window 4\n{base + hot:x} 2 600\n")
        out = subprocess.run(
            [sys.executable, str(HERE.parent / "insn-profile" / "symbolize.py"),
             str(self.d / "w.4"), "--iterations", "100",
             "--user", f"{prog}@{base:#x}", "--annotate", "hot"],
            capture_output=True, text=True, check=True).stdout
        self.assertIn("# hot: 6.0 instructions per iteration", out)
        counted = [line for line in out.splitlines()[1:] if line[:8].strip()]
        self.assertEqual(len(counted), 2, out)
        self.assertRegex(counted[0], rf"^ +3\.00  {base + hot:x}  push")


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
    sys.stdout.write(stream.getvalue())
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"report: {passed} passed, {failed} failed")
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
