#!/usr/bin/env python3
"""Turn kevent-fuzz records into the README's table of bad inputs.

    fuzz/table.py [--summary] RECORDS.tsv [MORE.tsv...] > fuzz/bad-inputs.md

--summary: only the bad inputs, with the commands and types of a
kevent_ctl class merged into one row (the README's summary).
--fault: records of a run under fault injection (kevent-fuzz --fail):
ENOMEM and EFAULT are expected everywhere.

RECORDS are the tab-separated files of `kevent-fuzz -o` (call, input
class, outcome, count, expected outcomes). Records of several runs are
summed. Every outcome is checked against the ERRORS section of the call's
manual page in man/man2 (kevent_ctl entries, and the entries of the
changes a wait applies, against kevent_ctl(2), read()
against kevent_create(2), which documents read() of a queue, plus
read(2)'s EAGAIN/EINTR): an errno the page does not list is marked
"NOT DOCUMENTED". Outcomes outside the class's expected list (taken from
the pages while writing the fuzzer) are marked "UNEXPECTED". Exit status
1 if any row is marked.
"""
import collections
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAN = os.path.join(HERE, "..", "man", "man2")

PAGE = {
    "kevent_create": "kevent_create.2",
    "kevent_ctl": "kevent_ctl.2",
    "kevent_ctl entry": "kevent_ctl.2",
    # an entry of a kevent_ctl_batch a wait call applies: kevent_ctl(2)'s
    # errors, as kevent_get_events(2) says
    "wait change entry": "kevent_ctl.2",
    "kevent_get_events": "kevent_get_events.2",
    "kevent_ring_init": "kevent_ring_init.2",
    "kevent_wait": "kevent_wait.2",
    "read": "kevent_create.2",
}
# Not calls: the results of KEVENT_NAIO requests (the operation's own
# errno in the completion event, recorded by kevent-fuzz's NAIO engine per
# operation, socket and buffer): no manual page lists them as errors.
RESULTS = {"NAIO completion"}
# Errors of the generic calls the pages refer to rather than list.
EXTRA = {
    # read(2) of a queue: EAGAIN (O_NONBLOCK) and EINTR as read(2) has them
    "read": {"EAGAIN", "EINTR", "EINVAL", "EFAULT", "EBADF"},
    # the fuzzer's watchdog signal interrupts blocking waits
    "kevent_wait": {"EINTR"},
    "kevent_get_events": {"EINTR"},
}


def documented(page):
    """The errno names of the ERRORS section of a manual page."""
    path = os.path.join(MAN, page)
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return set()
    m = re.search(r"^\.SH ERRORS\n(.*?)(?=^\.SH )", text, re.S | re.M)
    if not m:
        return set()
    return set(re.findall(r"^\.B (E[A-Z0-9]+)", m.group(1), re.M))


def summary_key(call, cls):
    """Merge the commands and types of a class: (call, what, where)."""
    if call in ("kevent_ctl entry", "wait change entry"):
        m = re.match(r"([A-Z]+) (.+?): (.*)$", cls)
        if m:
            return call, m.group(3), f"{m.group(1)} {m.group(2)}"
    if call == "kevent_ctl":
        m = re.match(r"([A-Z]+): (arg .*)$", cls)
        if m:
            return call, m.group(2), m.group(1)
    m = re.match(r"fd: (.*)$", cls)
    if m and m.group(1) not in ("-1", "negative", "never opened (2^20)",
                                "closed or reused number"):
        return call, "fd: another kind of file", m.group(1)
    return call, cls, ""


def summary(rows, expect, docs):
    """Only the bad inputs (a class whose expected outcomes exclude ok),
    commands and types merged."""
    merged = collections.OrderedDict()
    for (call, cls), outs in rows.items():
        exp = expect.get((call, cls), "")
        if not exp or "ok" in exp.split(","):
            continue
        key = summary_key(call, cls)
        m = merged.setdefault(key[:2], [collections.Counter(), set(), set()])
        m[0].update(outs)
        if key[2]:
            m[1].add(key[2])
        m[2].update(exp.split(","))
    print("| call | bad input | errno (count) | documented |")
    print("|---|---|---|---|")
    marked = 0
    for (call, what), (outs, where, exp) in sorted(merged.items()):
        undoc = sorted(o for o in outs if o != "ok" and call not in RESULTS
                       and o not in docs.get(call, set()))
        bad = sorted(o for o in outs if o not in exp)
        note = "yes"
        if undoc or bad:
            marked += 1
            note = "; ".join(x for x in (
                "NOT DOCUMENTED: " + ", ".join(undoc) if undoc else "",
                "UNEXPECTED: " + ", ".join(bad) if bad else "") if x)
        cell = ", ".join(f"{o} ({n})" for o, n in outs.most_common())
        if what == "fd: another kind of file":
            w = f" ({', '.join(sorted(where))})"
        elif len(where) > 1:
            w = f" ({len(where)} command/type pairs)"
        else:
            w = f" ({next(iter(where))})" if where else ""
        print(f"| `{call}` | {what}{w} | {cell} | {note} |")
    print()
    print(f"{len(merged)} classes of bad input; {marked} marked.")
    return 1 if marked else 0


def main(paths):
    rows = collections.OrderedDict()
    expect = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 4:
                    continue
                call, cls, outcome, n = parts[:4]
                exp = parts[4] if len(parts) > 4 else ""
                key = (call, cls)
                rows.setdefault(key, collections.Counter())[outcome] += int(n)
                if exp:
                    expect[key] = exp
    docs = {call: documented(page) | EXTRA.get(call, set())
            for call, page in PAGE.items()}
    if SUMMARY:
        return summary(rows, expect, docs)
    marked = 0
    printed = 0
    total = sum(sum(c.values()) for c in rows.values())
    print("| call | input | outcomes (count) | expected | check |")
    print("|---|---|---|---|---|")
    for key in sorted(rows, key=lambda k: (k[0], k[1])):
        call, cls = key
        outs = rows[key]
        notes = []
        undoc = sorted(o for o in outs
                       if o != "ok" and call not in RESULTS
                       and o not in docs.get(call, set()))
        if undoc:
            notes.append("NOT DOCUMENTED: " + ", ".join(undoc))
        exp = expect.get(key, "")
        if FAULT:
            # only where a fault showed: ENOMEM, or EFAULT the class
            # does not expect by itself
            own = set(exp.split(",")) if exp else set()
            if not ("ENOMEM" in outs or ("EFAULT" in outs and "EFAULT" not in own)):
                continue
            exp = (exp + "," if exp else "") + "ENOMEM,EFAULT" if exp else ""
        if exp:
            allowed = set(exp.split(","))
            bad = sorted(o for o in outs if o not in allowed)
            if bad:
                notes.append("UNEXPECTED: " + ", ".join(bad))
        if notes:
            marked += 1
        cell = ", ".join(f"{o} ({n})" for o, n in outs.most_common())
        printed += 1
        print(f"| `{call}` | {cls} | {cell} | {exp.replace(',', ', ') or '(state)'} "
              f"| {'; '.join(notes) or 'ok'} |")
    print()
    print(f"{printed} of {len(rows)} input classes shown, {total} outcomes recorded "
          f"(a kevent_ctl call and each of its entries count one each); {marked} rows marked.")
    return 1 if marked else 0


SUMMARY = False
FAULT = False

if __name__ == "__main__":
    args = sys.argv[1:]
    while args and args[0] in ("--summary", "--fault"):
        if args[0] == "--summary":
            SUMMARY = True
        else:
            FAULT = True
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    sys.exit(main(args))
