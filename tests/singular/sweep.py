#!/usr/bin/env python3
"""Run every example of Singular's manual, or every example of Singular's
libraries, under spindle and Singular, and count the ones that print the
same (stdout and stderr together).

  sweep.py manual --git-dir /path/to/Singular.git [--rev HEAD]
  sweep.py libs [--libdir /usr/share/singular/LIB]

Needs Debian's Singular (`Singular` on PATH; singular-data for the
libraries) and a built spindle (SPINDLE, default ./spindle of the tree).
Prints one line per example that runs under spindle without an error but
prints something else ("DIFF name"; with --same also "SAME name" for the
others), then the counts. Examples run in a
temporary directory, 2 at a time, 10 s each at most. Python 3 standard
library only.
"""
import argparse, concurrent.futures as cf, importlib.util, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SPINDLE = os.environ.get("SPINDLE", os.path.join(HERE, "..", "..", "spindle"))


def run(cmd, cwd):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return 124, b""


def manual_examples(gitdir, rev):
    spec = importlib.util.spec_from_file_location("se", os.path.join(HERE, "select-examples.py"))
    se = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(se)
    names = subprocess.run(["git", "--git-dir", gitdir, "ls-tree", "--name-only", rev, "Tst/Manual/"],
                           capture_output=True, text=True, check=True).stdout.split()
    for p in names:
        if p.endswith(".tst"):
            t = subprocess.run(["git", "--git-dir", gitdir, "show", rev + ":" + p],
                               capture_output=True, text=True, errors="replace").stdout
            yield os.path.basename(p)[:-4], se.strip_harness(t)


def lib_examples(libdir):
    proc = re.compile(r'^(?:static\s+)?proc\s+([A-Za-z_][A-Za-z_0-9]*)')
    for f in sorted(os.listdir(libdir)):
        if not f.endswith(".lib"):
            continue
        name = None
        with open(os.path.join(libdir, f), errors="replace") as fh:
            for line in fh:
                m = proc.match(line)
                if m:
                    name = m.group(1)
                elif line.startswith("example") and name:
                    yield "%s:%s" % (f, name), 'LIB "%s"; example %s;\n' % (f, name)
                    name = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["manual", "libs"])
    ap.add_argument("--git-dir")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--libdir", default="/usr/share/singular/LIB")
    ap.add_argument("--same", action="store_true", help="also list the ones that print the same")
    a = ap.parse_args()
    if a.what == "manual" and not a.git_dir:
        ap.error("manual needs --git-dir")
    exs = list(manual_examples(a.git_dir, a.rev) if a.what == "manual" else lib_examples(a.libdir))
    tmp = tempfile.mkdtemp()

    def one(ex):
        name, text = ex
        fn = re.sub(r"[^A-Za-z0-9_]", "_", name) + ".sing"
        with open(os.path.join(tmp, fn), "w") as fh:
            fh.write(text)
        rc, out = run([SPINDLE, fn], tmp)
        if rc != 0:
            return name, "error"
        _, want = run(["Singular", "-q", fn], tmp)
        return name, "same" if out == want else "differ"

    with cf.ThreadPoolExecutor(2) as pool:
        res = list(pool.map(one, exs))
    for name, r in res:
        if r == "differ" or (a.same and r == "same"):
            print("DIFF" if r == "differ" else "SAME", name)
    runs = sum(r != "error" for _, r in res)
    same = sum(r == "same" for _, r in res)
    print("%d examples: %d run without an error, %d of them print what Singular prints" % (len(res), runs, same))


if __name__ == "__main__":
    main()
