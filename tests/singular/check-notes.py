#!/usr/bin/env python3
"""Check (or refresh) the Singular outputs quoted in NOTES.md.

NOTES.md quotes each example as a ```singular block followed by an
```output block. This script runs every singular block with
`Singular -q ex.sing </dev/null` (in a scratch directory, so error messages
name ex.sing) and compares stdout+stderr with the output block.
With --update it rewrites the output blocks instead.

Python 3 standard library only. Usage: check-notes.py [--update] [Singular]
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NOTES = os.path.join(HERE, "NOTES.md")
PAIR = re.compile(r'(```singular\n)(.*?)(```\n+```output\n)(.*?)(```\n)', re.S)


def singular_output(singular, code):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "ex.sing"), "w") as fh:
            fh.write(code)
        r = subprocess.run([singular, "-q", "ex.sing"], cwd=tmp,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60,
                           env=dict(os.environ, LC_ALL="C"))
        return r.stdout.decode("latin-1")


def main():
    args = sys.argv[1:]
    update = "--update" in args
    args = [a for a in args if a != "--update"]
    singular = args[0] if args else "Singular"
    with open(NOTES) as fh:
        text = fh.read()
    bad = []

    def visit(m):
        got = singular_output(singular, m.group(2))
        if got != m.group(4):
            bad.append(m.group(2).split("\n")[0])
        return m.group(1) + m.group(2) + m.group(3) + got + m.group(5)

    new = PAIR.sub(visit, text)
    count = len(PAIR.findall(text))
    if update:
        with open(NOTES, "w") as fh:
            fh.write(new)
        print("%d examples, %d refreshed" % (count, len(bad)))
        return 0
    for first in bad:
        print("differs: example starting %r" % first)
    print("%d examples, %d differ" % (count, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
