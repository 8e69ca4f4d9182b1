#!/usr/bin/env python3
"""Turn insn_profile.so's output into instructions per iteration, by function.

  symbolize.py PROFILE --iterations N [--kernel System.map] [--user BINARY[@BASE]]...
               [--maps MAPS]
               [--diff PROFILE2 --iterations2 N2 [--maps2 MAPS2]] [--top K] [--by-tb SYMBOL]
               [--annotate SYMBOL --vmlinux VMLINUX] [--lines BINARY[@BASE]]

PROFILE: one window's file from the plugin (VADDR NINSNS INSTRUCTIONS
per TB). Kernel addresses are looked up in System.map (the kernel must
not be relocated: CONFIG_RANDOMIZE_BASE off, as in ci/'s kernels), user
addresses in each BINARY's symbols (nm), shifted by BASE (0 for a
static, non-PIE program), or in the files of MAPS (a copy of
/proc/PID/maps of a process run without ASLR; a stripped library's
dynamic symbols only, so its internal functions show under the nearest
exported name). Addresses with no symbol are one row, "[u] ?" (another
process, the vDSO). A TB is charged to the function it starts in. With
--diff, two profiles side by side (per iteration each) and their
difference, largest first. --annotate prints SYMBOL's disassembly
(objdump of VMLINUX, or of the user file that defines it) with each
instruction's executions per iteration; --by-tb lists SYMBOL's TBs.
--lines gives the instructions per iteration of BINARY's code by source
line (addr2line: the innermost inlined line; build it with line tables,
e.g. CARGO_PROFILE_RELEASE_DEBUG=line-tables-only), with each line's
function.
"""
import argparse
import bisect
import subprocess
import sys


def load_map(lines, base=0):
    syms = []
    for line in lines:
        parts = line.split()
        if len(parts) < 3 or parts[1] in ("U", "w", "v"):
            continue
        try:
            addr = int(parts[0], 16) + base
        except ValueError:
            continue
        if parts[1].lower() in ("t", "w") or parts[1] in ("T", "W"):
            syms.append((addr, parts[2]))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def read_profile(path):
    window, tbs = 0, []
    with open(path) as f:
        for line in f:
            if line.startswith("# window"):
                window = int(line.split()[2])
                continue
            v, n, c = line.split()
            tbs.append((int(v, 16), int(n), int(c)))
    return window, tbs


def maps_bases(path):
    """BINARY@BASE for each file mapped in a /proc/PID/maps copy."""
    if not path:
        return []
    bases = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 6 or not parts[5].startswith("/"):
                continue
            start = int(parts[0].split("-")[0], 16)
            base = start - int(parts[2], 16)
            bases[parts[5]] = min(base, bases.get(parts[5], base))
    return [f"{p}@{hex(b)}" for p, b in bases.items()]


class Symbols:
    def __init__(self, kernel_map, users, maps=None):
        self.kernel = ([], [])
        if kernel_map:
            with open(kernel_map) as f:
                self.kernel = load_map(f)
        self.user = ([], [])
        self.origin = {}  # user symbol: (file, load base)
        addrs, names = [], []
        for spec in users + maps_bases(maps):
            path, _, base = spec.partition("@")
            out = subprocess.run(["nm", "-n", "--defined-only", path],
                                 capture_output=True, text=True).stdout
            if not out.strip():
                # A stripped library: its dynamic symbols
                out = subprocess.run(["nm", "-n", "-D", "--defined-only", path],
                                     capture_output=True, text=True).stdout
            a, n = load_map(out.splitlines(), int(base, 0) if base else 0)
            addrs += a
            names += n
            for name in n:
                self.origin.setdefault(name, (path, int(base, 0) if base else 0))
        pairs = sorted(zip(addrs, names))
        self.user = ([a for a, _ in pairs], [n for _, n in pairs])

    def name(self, vaddr):
        kernel = vaddr >= 0xFFFF800000000000
        addrs, names = self.kernel if kernel else self.user
        i = bisect.bisect_right(addrs, vaddr) - 1
        if i < 0:
            # No symbols (a user program not given, or relocated): one row.
            return "[k] ?" if kernel else "[u] ?"
        return ("[k] " if kernel else "[u] ") + names[i]


def by_symbol(tbs, syms, iterations):
    out = {}
    for v, n, c in tbs:
        s = syms.name(v)
        out[s] = out.get(s, 0) + c / iterations
    return out


def objdump_insns(binary, symbol=None):
    """BINARY's instructions (of SYMBOL only, if given): [(address, text)], sorted."""
    cmd = ["objdump", "-d", "--no-show-raw-insn"]
    if symbol:
        cmd.append(f"--disassemble={symbol}")
    out = subprocess.run(cmd + [binary], capture_output=True, text=True, check=True).stdout
    insns = {}
    for line in out.splitlines():
        head, sep, text = line.partition(":\t")
        if sep and head.strip():
            try:
                insns.setdefault(int(head.strip(), 16), text.strip())
            except ValueError:
                pass
    return sorted(insns.items())


def executions(tbs, addrs, iterations, base=0):
    """Executions per iteration of each of ADDRS (sorted; a TB at address v
    starts at ADDRS' v - BASE and spreads its count over its n instructions)."""
    index = {addr: i for i, addr in enumerate(addrs)}
    execs = [0.0] * len(addrs)
    for v, n, c in tbs:
        i = index.get(v - base)
        if i is None:
            continue
        for j in range(i, min(i + n, len(addrs))):
            execs[j] += c / n / iterations
    return execs


def annotate(a, syms, tbs):
    if a.annotate in syms.origin:
        binary, base = syms.origin[a.annotate]
    else:
        binary, base = a.vmlinux, 0
    insns = objdump_insns(binary, a.annotate)
    execs = executions(tbs, [addr for addr, _ in insns], a.iterations, base)
    print(f"# {a.annotate}: {sum(execs):.1f} instructions per iteration")
    for (addr, text), e in zip(insns, execs):
        addr += base
        print(f"{e:8.2f}  {addr:x}  {text}" if e else f"{'':8}  {addr:x}  {text}")


def by_line(a, tbs):
    binary, _, base = a.lines.partition("@")
    base = int(base, 0) if base else 0
    insns = [addr for addr, _ in objdump_insns(binary)]
    execs = {addr: e for addr, e in zip(insns, executions(tbs, insns, a.iterations, base)) if e}
    addrs = sorted(execs)
    out = subprocess.run(["addr2line", "-f", "-C", "-e", binary] + [hex(x) for x in addrs],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    lines = {}
    for k, addr in enumerate(addrs):
        func, where = out[2 * k], out[2 * k + 1].split(" (")[0]
        key = (where, func)
        lines[key] = lines.get(key, 0) + execs[addr]
    total = sum(lines.values())
    print(f"# {a.profile}: {total:.1f} instructions per iteration in {binary}")
    for (where, func), v in sorted(lines.items(), key=lambda kv: -kv[1])[:a.top]:
        print(f"{v:10.1f}  {where}  {func[:80]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile")
    ap.add_argument("--iterations", type=float, required=True)
    ap.add_argument("--kernel", help="System.map of the booted kernel")
    ap.add_argument("--user", action="append", default=[], help="BINARY[@BASE]")
    ap.add_argument("--maps", help="a copy of the process's /proc/PID/maps "
                    "(run it without ASLR: setarch -R): its files' symbols")
    ap.add_argument("--diff", help="a second profile to compare with")
    ap.add_argument("--iterations2", type=float)
    ap.add_argument("--maps2", help="--maps of the second profile, if another program's")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--by-tb", help="list the TBs charged to this symbol")
    ap.add_argument("--annotate", help="disassemble this symbol with counts")
    ap.add_argument("--vmlinux", help="the kernel image, for --annotate")
    ap.add_argument("--lines", help="BINARY[@BASE]: its instructions by source line")
    a = ap.parse_args()
    if a.lines:
        return by_line(a, read_profile(a.profile)[1])
    syms = Symbols(a.kernel, a.user, a.maps)
    w1, tbs1 = read_profile(a.profile)
    if a.annotate:
        return annotate(a, syms, tbs1)
    p1 = by_symbol(tbs1, syms, a.iterations)
    if a.by_tb:
        for v, n, c in sorted(tbs1):
            if syms.name(v).endswith(" " + a.by_tb):
                print(f"{v:x} {n:4d} insns {c / a.iterations:10.2f} per iteration")
        return
    if not a.diff:
        total = sum(p1.values())
        print(f"# {a.profile}: window {w1}, {total:.1f} instructions per iteration")
        print(f"{'per iter':>10} {'%':>6}  symbol")
        for s, v in sorted(p1.items(), key=lambda kv: -kv[1])[:a.top]:
            print(f"{v:10.1f} {100 * v / total:6.2f}  {s}")
        return
    w2, tbs2 = read_profile(a.diff)
    syms2 = Symbols(a.kernel, a.user, a.maps2) if a.maps2 else syms
    p2 = by_symbol(tbs2, syms2, a.iterations2 or a.iterations)
    t1, t2 = sum(p1.values()), sum(p2.values())
    print(f"# A {a.profile}: {t1:.1f}  B {a.diff}: {t2:.1f}  B-A {t2 - t1:+.1f} instructions per iteration")
    print(f"{'A':>10} {'B':>10} {'B-A':>10}  symbol")
    keys = set(p1) | set(p2)
    for s in sorted(keys, key=lambda k: -abs(p2.get(k, 0) - p1.get(k, 0)))[:a.top]:
        x, y = p1.get(s, 0), p2.get(s, 0)
        print(f"{x:10.1f} {y:10.1f} {y - x:+10.1f}  {s}")


if __name__ == "__main__":
    sys.exit(main())
