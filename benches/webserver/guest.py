#!/usr/bin/python3
"""The web-server comparison (issue 16), run inside the VM as root:
lighttpd and nginx (benches/webserver/build.sh), each with its epoll
backend and its kqueue backend on libkqueue (kevent), under wrk on
loopback.

    benches/webserver/guest.py --builds DIR --csv PATH [--quick]
        [--reps N] [--duration S] [--servers lighttpd,nginx]
        [--mechanisms epoll,kqueue] [--files 1KiB,64KiB]
        [--http keep-alive,close] [--connections 100,1000]
        [--strace DIR] [--perf DIR [--perf-system]] [--diag] [--smoke]
        [--no-sysctl]

Every server runs as nobody (setpriv), one process (lighttpd) or a master
and one worker (nginx), serving a 1 KiB and a 64 KiB file from a tmpfs
directory; wrk (2 threads, --latency, --timeout 10s: TCG is slow) runs
as root. A case is (file, keep-alive or "Connection: close",
connections); one server instance serves every case of a repetition,
and the repetitions interleave the servers and backends. Per case and
server build, CSV rows (benches/README.md, appended to PATH; the header
only when PATH is new):

    workload  lighttpd | nginx
    params    file=1KiB;http=keep-alive;connections=100
    mechanism epoll | kqueue
    metrics   requests_per_s, latency_p50_ns, latency_p99_ns (wrk),
              cpu_ns_per_request (the server's utime+stime over the run,
              /proc/PID/stat, every process of it, divided by the
              requests wrk completed), errors (wrk's socket errors:
              connect, read, write, timeout; and non-2xx/3xx responses)

Each server start first serves one unmeasured second of wrk (10
connections, keep-alive; not under --strace, whose counts are per case),
so that no measured case is a cold start.
--strace DIR: each server runs under strace -f -c (its summary in DIR,
one file per server build and case, with the system calls per request
on stderr); the numbers of such a run are not for comparison.
--perf DIR: perf record -e cpu-clock -g of the server's processes during
each wrk run (for -icount, where samples fall in proportion to
instructions), its top symbols and objects in DIR. With --perf-system,
every CPU and every process (perf record -a), by command and symbol:
the kernel threads' share (a kworker's rehashing, RCU) shows.
--diag: per case, on stderr: wrk's and the server's CPU per request, the
other threads' (kworkers, ksoftirqd, rcu: the busiest four named), and
the TCP counters (/proc/net/snmp, /proc/net/netstat) that moved, per
request. (Not /proc/stat's idle: under -icount an idle vCPU's clock
jumps, and its count means nothing.) Under -icount the vCPUs run in turn on one clock, so the
requests/s of a 2-vCPU guest are those of a 1-vCPU one, but its CPU
times count a process's time while the other vCPU runs too: for
per-process costs under -icount, boot with one vCPU (vm-run --cpus 1).
--insn-mark DIR: each wrk run is a window of the instruction profile
(benches/insn-profile: boot with vm-run --plugin; DIR holds the insn-mark
binary and gets, per case, the request count and the server's
/proc/PID/maps, with ASLR off in the guest so that they hold).
--smoke: one request per server build and a check of its body, no wrk.
"""
import argparse
import csv
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PORT = 8080
WEB = "/tmp/web"  # main() makes it /tmp/web-XXXX, fresh per run
FILES = {"1KiB": 1024, "64KiB": 65536}
NOFILE = 16384
CLK_TCK = os.sysconf("SC_CLK_TCK")
FIELDS = ["workload", "params", "mechanism", "metric", "value", "reps", "min", "max", "note"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tcp_counters():
    """Every Tcp: and TcpExt: counter of /proc/net/snmp and netstat."""
    out = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            lines = f.read().splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            kind = names.split(":")[0]
            if kind not in ("Tcp", "TcpExt"):
                continue
            for n, v in zip(names.split()[1:], values.split()[1:]):
                out[n] = int(v)
    return out


def thread_ticks():
    """Every thread's utime+stime, by (tid, comm)."""
    threads = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                st = open(f"/proc/{p}/task/{t}/stat").read()
                comm = st[st.index("(") + 1:st.rindex(")")]
                rest = st.rsplit(")", 1)[1].split()
                threads[(t, comm)] = int(rest[11]) + int(rest[12])
        except (OSError, ValueError):
            continue
    return threads


def diag_line(before, after, reqs, server_ticks):
    """One line: where the time of a wrk run went, per request."""
    (t0, w0, s0), (t1, w1, s1) = before, after
    per = 1e6 / CLK_TCK / max(reqs, 1)  # ticks -> us per request
    moved = {n: t1[n] - t0.get(n, 0) for n in t1 if n != "CurrEstab"}
    tcp = ", ".join(f"{n} {v / max(reqs, 1):.3g}" for n, v in sorted(moved.items()) if v)
    others = {}
    for key, ticks in s1.items():
        comm = key[1]
        if comm in ("lighttpd", "nginx", "wrk", "python3", "strace", "perf"):
            continue
        d = ticks - s0.get(key, 0)
        if d > 0:
            name = re.sub(r"[/:].*", "", comm)  # kworker/0:1H-events -> kworker
            others[name] = others.get(name, 0) + d
    busiest = sorted(others.items(), key=lambda x: -x[1])[:4]
    top = ", ".join(f"{n} {v * per:.1f}" for n, v in busiest)
    return (f"diag: wrk {(w1 - w0) * per:.1f} us/req, server {server_ticks * per:.1f} us/req, "
            f"other threads {sum(others.values()) * per:.1f} ({top or 'none'}); "
            f"TCP per request: {tcp}")


def wrk_ticks():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((r.ru_utime + r.ru_stime) * CLK_TCK)


def sysctl(name, value):
    try:
        with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
            f.write(value)
    except OSError as e:
        log(f"sysctl {name}={value}: {e}")


def lighttpd_conf(d, mech):
    handler = {"epoll": "linux-sysepoll", "kqueue": "freebsd-kqueue"}[mech]
    return f"""server.document-root = "{WEB}/www"
server.bind = "127.0.0.1"
server.port = {PORT}
server.event-handler = "{handler}"
server.max-fds = {NOFILE}
server.max-connections = 4096
server.listen-backlog = 4096
server.max-keep-alive-requests = 100000
server.stat-cache-engine = "simple"
server.errorlog = "{d}/error.log"
server.pid-file = "{d}/pid"
"""


def nginx_conf(d, mech):
    return f"""daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {NOFILE};
error_log {d}/error.log;
pid {d}/nginx.pid;
# The library's A/B switches reach the worker (nginx clears its environment).
env KQUEUE_UPSERT;
env KQUEUE_WAIT_CHANGES;
env KQUEUE_AMOUNTS;
env KQUEUE_DIRECT;
events {{
    use {mech};
    worker_connections 4096;
}}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{PORT} backlog=4096;
        root {WEB}/www;
    }}
}}
"""


def server_cmd(builds, server, mech, d):
    if server == "lighttpd":
        with open(f"{d}/lighttpd.conf", "w") as f:
            f.write(lighttpd_conf(d, mech))
        return [f"{builds}/lighttpd-{mech}/src/lighttpd", "-D", "-f", f"{d}/lighttpd.conf"]
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(nginx_conf(d, mech))
    return [f"{builds}/nginx-{mech}/objs/nginx", "-p", d, "-c", f"{d}/nginx.conf",
            "-e", f"{d}/error.log"]


def raise_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def get(path, timeout=30.0):
    """One HTTP/1.0 GET on loopback: (status, body length) or None."""
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    return (int(m.group(1)), len(body)) if m else None


class Server:
    def __init__(self, builds, server, mech, strace=None):
        self.name = f"{server}-{mech}"
        self.dir = f"{WEB}/{self.name}"
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(f"{self.dir}/logs")
        cmd = server_cmd(builds, server, mech, self.dir)
        for root, dirs, files in os.walk(self.dir):
            for n in [root] + [os.path.join(root, x) for x in files]:
                os.chown(n, 65534, 65534)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + cmd
        if strace:
            cmd = ["strace", "-f", "-c", "-o", strace] + cmd
        self.proc = subprocess.Popen(cmd, preexec_fn=raise_nofile, stdout=subprocess.DEVNULL,
                                     stderr=open(f"{self.dir}/stderr", "w"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.proc.returncode}): "
                                 + self.logs())
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise SystemExit(f"{self.name} did not listen on port {PORT}: " + self.logs())
        for name, size in FILES.items():
            r = get(f"/{name}")
            if r != (200, size):
                self.stop()
                raise SystemExit(f"{self.name}: GET /{name} gave {r}, not (200, {size}): "
                                 + self.logs())
        self.check_user()

    def logs(self):
        out = []
        for n in ("stderr", "error.log"):
            try:
                out.append(open(f"{self.dir}/{n}").read()[-2000:])
            except OSError:
                pass
        return "\n".join(out)

    def pids(self):
        """The server's processes (strace's and setpriv's child first)."""
        top = [self.proc.pid]
        found = set(top)
        changed = True
        while changed:
            changed = False
            for p in os.listdir("/proc"):
                if not p.isdigit() or int(p) in found:
                    continue
                try:
                    ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid in found:
                    found.add(int(p))
                    changed = True
        return sorted(found)

    def check_user(self):
        for p in self.pids():
            try:
                st = open(f"/proc/{p}/status").read()
                comm = open(f"/proc/{p}/comm").read().strip()
            except OSError:
                continue
            uid = re.search(r"^Uid:\s+(\d+)", st, re.M).group(1)
            if comm in ("lighttpd", "nginx") and uid != "65534":
                self.stop()
                raise SystemExit(f"{self.name}: process {p} ({comm}) runs as uid {uid}, not nobody")

    def cpu_ticks(self):
        """(utime, stime) of every server process (not strace's)."""
        user = system = 0
        for p in self.pids():
            try:
                comm = open(f"/proc/{p}/comm").read().strip()
                f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if comm in ("lighttpd", "nginx"):
                user += int(f[11])
                system += int(f[12])
        return user, system

    def main_pid(self):
        """The server's first process (under strace, strace's child)."""
        for p in self.pids():
            try:
                if open(f"/proc/{p}/comm").read().strip() in ("lighttpd", "nginx"):
                    return p
            except OSError:
                pass
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            # nginx: SIGQUIT is its graceful stop; lighttpd: SIGINT. To the
            # server, not to strace, which then writes its summary.
            try:
                os.kill(self.main_pid(), 3 if "nginx" in self.name else 2)
            except OSError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                for p in reversed(self.pids()):
                    try:
                        os.kill(p, 9)
                    except OSError:
                        pass
                self.proc.wait()


UNITS = {"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def parse_wrk(out):
    def lat(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None
    r = {}
    m = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", out, re.M)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    r["requests_per_s"] = float(m.group(1)) if m else None
    r["latency_p50_ns"] = lat(50)
    r["latency_p99_ns"] = lat(99)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    r["errors"] = errors
    return r


def run_wrk(args, file, http, conns, duration=None):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{duration or args.duration}s", "--timeout", "10s",
           "--latency"]
    if http == "close":
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{PORT}/{file}")
    p = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=raise_nofile)
    if p.returncode != 0:
        log(p.stdout + p.stderr)
        raise SystemExit(f"wrk failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout


def error_log_summary(path):
    """The server's error log in one line: how many lines, and the most
    frequent messages (timestamps, pids and numbers made alike); empty
    if it has none. A server that logs per request spends time in its
    own formatting (nginx's ngx_vslprintf() in a profile)."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return ""
    counts = {}
    for line in lines:
        # nginx: "2026/12/03 20:01:02 [error] 12#12: *34 message",
        # lighttpd: "2026-12-03 20:01:02: (file.c.123) message".
        msg = re.sub(r"^\d{4}[/-]\d\d[/-]\d\d \d\d:\d\d:\d\d:? ", "", line)
        msg = re.sub(r"\d+", "N", msg)[:120]
        counts[msg] = counts.get(msg, 0) + 1
    if not counts:
        return ""
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    return (f"error.log {len(lines)} lines: "
            + "; ".join(f"{n}x {msg}" for msg, n in top))


def strace_calls(path):
    """(total calls, the top calls) from strace -c's summary."""
    total, top = 0, []
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[-1] == "total":
            total = int(f[3])
        elif len(f) >= 5 and re.match(r"[\d.]+$", f[0]) and f[-1] not in ("total",):
            top.append((int(f[3]), f[-1]))
    return total, sorted(top, reverse=True)[:8]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", required=True)
    ap.add_argument("--csv")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--servers", default="lighttpd,nginx")
    ap.add_argument("--mechanisms", default="epoll,kqueue")
    ap.add_argument("--files")
    ap.add_argument("--http", default="keep-alive,close")
    ap.add_argument("--connections", default="100,1000")
    ap.add_argument("--strace")
    ap.add_argument("--perf")
    ap.add_argument("--diag", action="store_true")
    ap.add_argument("--perf-system", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--insn-mark")
    ap.add_argument("--no-sysctl", action="store_true", help="leave the network sysctls alone "
                    "(a try on the host)")
    args = ap.parse_args()
    args.reps = args.reps or (1 if args.quick or args.strace else 2)
    args.duration = args.duration or (2 if args.quick else 3)
    files = (args.files or ("1KiB" if args.quick else "1KiB,64KiB")).split(",")
    servers = args.servers.split(",")
    mechs = args.mechanisms.split(",")
    https = args.http.split(",")
    conns = [int(c) for c in args.connections.split(",")]
    cases = [(f, h, c) for f in files for h in https for c in conns]

    if not args.no_sysctl:
        # The guest's own: backlogs for 1,000 connections at once, ports
        # for "Connection: close".
        sysctl("net.core.somaxconn", "4096")
        sysctl("net.ipv4.tcp_max_syn_backlog", "8192")
        sysctl("net.ipv4.ip_local_port_range", "1024 65535")
        sysctl("net.ipv4.tcp_tw_reuse", "1")
    if args.insn_mark:
        # The same addresses in the maps copied and in the window.
        sysctl("kernel.randomize_va_space", "0")
    global WEB
    WEB = tempfile.mkdtemp(prefix="web-", dir="/tmp")
    os.makedirs(f"{WEB}/www")
    os.chmod(WEB, 0o755)
    os.chmod(f"{WEB}/www", 0o755)
    for name, size in FILES.items():
        with open(f"{WEB}/www/{name}", "wb") as f:
            f.write(os.urandom(size))
        os.chmod(f"{WEB}/www/{name}", 0o644)

    if args.smoke:
        for s in servers:
            for m in mechs:
                srv = Server(args.builds, s, m)  # checks both files' GET
                srv.stop()
                log(f"smoke: {s}-{m}: GET /1KiB and /64KiB as nobody: ok")
        return

    for d in (args.strace, args.perf):
        if d:
            os.makedirs(d, exist_ok=True)
    results = {}  # (server, case, mech) -> [rep dicts]
    start_size = os.path.getsize(args.csv) if args.csv and os.path.exists(args.csv) else 0
    total = args.reps * len(servers) * len(mechs) * len(cases)
    done = 0
    start = time.monotonic()
    for rep in range(args.reps):
        for s in servers:
            for m in mechs:
                if args.strace:
                    # One server per case, so that the summary is the case's.
                    todo = [[c] for c in cases]
                else:
                    todo = [cases]
                for group in todo:
                    trace = None
                    if args.strace:
                        f, h, c = group[0]
                        trace = f"{args.strace}/{s}-{m}-{f}-{h}-{c}.txt"
                    srv = Server(args.builds, s, m, trace)
                    try:
                        # An unmeasured second first: the first run of a
                        # boot once served 4033 requests/s where the same
                        # case serves 27,000 (session 52, lighttpd, epoll,
                        # keep-alive, 100 connections, -icount).
                        if not args.strace:
                            run_wrk(args, group[0][0], "keep-alive", 10, duration=1)
                        for (f, h, c) in group:
                            perf = None
                            if args.perf:
                                # On the guest's tmpfs: through 9p it would be profiled.
                                data = f"{WEB}/perf.data"
                                pids = ",".join(str(p) for p in srv.pids())
                                who = ["-a"] if args.perf_system else ["-p", pids]
                                perf = subprocess.Popen(
                                    ["perf", "record", "-q", "-e", "cpu-clock", "-F", "10000",
                                     "-g"] + who + ["-o", data],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                                time.sleep(1)
                            u0, s0 = srv.cpu_ticks()
                            if args.diag:
                                before = (tcp_counters(), wrk_ticks(), thread_ticks())
                            if args.insn_mark:
                                name = f"{args.insn_mark}/{s}-{m}-{f}-{h}-{c}"
                                shutil.copy(f"/proc/{srv.main_pid()}/maps", f"{name}.maps")
                                subprocess.run([f"{args.insn_mark}/insn-mark", "start"], check=True)
                            out = run_wrk(args, f, h, c)
                            if args.insn_mark:
                                subprocess.run([f"{args.insn_mark}/insn-mark", "stop"], check=True)
                            u1, s1 = srv.cpu_ticks()
                            if args.diag:
                                after = (tcp_counters(), wrk_ticks(), thread_ticks())
                            if perf:
                                perf.send_signal(2)
                                perf.wait()
                                name = f"{args.perf}/{s}-{m}-{f}-{h}-{c}"
                                sorts = ((("comm,sym", "sym"), ("comm", "dso")) if args.perf_system
                                         else (("sym", "sym"), ("dso", "dso")))
                                for sort, suffix in sorts:
                                    with open(f"{name}.{suffix}.txt", "w") as fh:
                                        subprocess.run(
                                            ["perf", "report", "-q", "-i", data,
                                             "--kallsyms=/proc/kallsyms", "--no-children",
                                             "--sort", sort, "--stdio", "-g", "none", "-n",
                                             "--percent-limit", "0.3"],
                                            stdout=fh, stderr=subprocess.DEVNULL)
                            ticks = u1 - u0 + s1 - s0
                            r = parse_wrk(out)
                            if r["requests_per_s"] is None or r["latency_p99_ns"] is None:
                                log(out)
                                raise SystemExit("could not parse wrk's output")
                            if args.insn_mark:
                                with open(f"{name}.requests", "w") as fh:
                                    fh.write(f"{r['requests']}\n")
                            r["cpu_ns_per_request"] = (ticks * 1e9 / CLK_TCK / r["requests"]
                                                       if r["requests"] else None)
                            results.setdefault((s, (f, h, c), m), []).append(r)
                            if args.csv:
                                write_csv(args.csv, start_size, results, servers)
                            done += 1
                            log(f"[{done}/{total} {time.monotonic() - start:.0f}s] {s} {m} "
                                f"{f} {h} c={c}: {r['requests_per_s']:.0f} req/s, "
                                f"p50 {r['latency_p50_ns'] / 1e6:.2f} ms, "
                                f"p99 {r['latency_p99_ns'] / 1e6:.2f} ms, cpu/req "
                                f"{(r['cpu_ns_per_request'] or 0) / 1e3:.1f} us "
                                f"({100 * (u1 - u0) / max(ticks, 1):.0f} % user), "
                                f"errors {r['errors']}")
                            if args.diag:
                                log(diag_line(before, after, r["requests"], ticks))
                            if r["errors"]:
                                log(out)
                    finally:
                        srv.stop()
                    errors = error_log_summary(f"{srv.dir}/error.log")
                    if errors:
                        log(f"{s} {m}: {errors}")
                    if trace:
                        calls, top = strace_calls(trace)
                        reqs = results[(s, group[0], m)][-1]["requests"]
                        log(f"strace {s} {m} {group[0]}: {calls} calls, "
                            f"{calls / max(reqs, 1):.2f} per request; "
                            + ", ".join(f"{n} {name}" for n, name in top))

    if not args.csv:
        write_csv(None, 0, results, servers)


def write_csv(path, start, results, servers):
    """The rows so far, after the first START bytes of PATH (its rows from
    before this run): a run cut short keeps the cases it finished."""
    rows = []
    for (s, (f, h, c), m), reps in results.items():
        params = f"file={f};http={h};connections={c}"
        for metric in ("requests_per_s", "latency_p50_ns", "latency_p99_ns",
                       "cpu_ns_per_request", "errors"):
            vals = [r[metric] for r in reps if r[metric] is not None]
            if not vals:
                continue
            rows.append([s, params, m, metric, f"{statistics.median(vals):.6g}", len(vals),
                         f"{min(vals):.6g}", f"{max(vals):.6g}", ""])
    order = {k: i for i, k in enumerate(servers)}
    rows.sort(key=lambda r: order[r[0]])
    if path is None:
        w = csv.writer(sys.stdout)
        w.writerow(FIELDS)
        w.writerows(rows)
        return
    with open(path, "r+" if os.path.exists(path) else "w", newline="") as fh:
        fh.seek(start)
        fh.truncate()
        w = csv.writer(fh)
        if start == 0:
            w.writerow(FIELDS)
        w.writerows(rows)


if __name__ == "__main__":
    main()
