#!/usr/bin/env python3
"""Turn kevent-fuzz records into the README's table of bad inputs.

    fuzz/table.py RECORDS.tsv [MORE.tsv...] > fuzz/bad-inputs.md

RECORDS are the tab-separated files of `kevent-fuzz -o` (call, input
class, outcome, count, expected outcomes). Records of several runs are
summed. Every outcome is checked against the ERRORS section of the call's
manual page in man/man2 (kevent_ctl entries against kevent_ctl(2), read()
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
    "kevent_get_events": "kevent_get_events.2",
    "kevent_ring_init": "kevent_ring_init.2",
    "kevent_wait": "kevent_wait.2",
    "read": "kevent_create.2",
}
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
    marked = 0
    total = sum(sum(c.values()) for c in rows.values())
    print("| call | input | outcomes (count) | expected | check |")
    print("|---|---|---|---|---|")
    for key in sorted(rows, key=lambda k: (k[0], k[1])):
        call, cls = key
        outs = rows[key]
        notes = []
        undoc = sorted(o for o in outs
                       if o != "ok" and o not in docs.get(call, set()))
        if undoc:
            notes.append("NOT DOCUMENTED: " + ", ".join(undoc))
        exp = expect.get(key, "")
        if exp:
            allowed = set(exp.split(","))
            bad = sorted(o for o in outs if o not in allowed)
            if bad:
                notes.append("UNEXPECTED: " + ", ".join(bad))
        if notes:
            marked += 1
        cell = ", ".join(f"{o} ({n})" for o, n in outs.most_common())
        print(f"| `{call}` | {cls} | {cell} | {exp.replace(',', ', ') or '(state)'} "
              f"| {'; '.join(notes) or 'ok'} |")
    print()
    print(f"{len(rows)} input classes, {total} calls; {marked} rows marked.")
    return 1 if marked else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
