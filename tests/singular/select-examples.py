#!/usr/bin/env python3
"""Select the ring-free examples of Singular's manual and record their output.

Reads every Tst/Manual/*.tst of a Singular checkout (a git directory, read
with `git show`, or a plain directory of .tst files), classifies each one as
ring-free (it uses only what spindle's language has) or not, with the reason,
and writes the result to classification.tsv beside this script.

With --generate it also writes, for every selected example, manual/NAME.sing
(the example without the tst.lib harness lines) and manual/NAME.out (what
`Singular -q NAME.sing </dev/null` prints, stdout and stderr together, run
inside manual/ so error messages name NAME.sing), plus manual/NAME.rc where
Singular's exit status is not 0. Each example is run twice; one whose output
differs between the runs, or that uses a clock, randomness or memory
statistics, is dropped as machine-dependent.

Python 3 standard library only. Usage:
  select-examples.py --git-dir /path/to/Singular.git [--rev HEAD] [--generate]
  select-examples.py --tst-dir /path/to/Tst/Manual [--generate]
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# The types spindle's language has (issue 5).
TYPES = {"int", "bigint", "string", "list", "intvec", "def", "proc",
         "package", "intmat", "link"}

KEYWORDS = {"if", "else", "while", "for", "break", "continue", "return",
            "quit", "exit", "div", "mod", "and", "or", "not"}

# Builtins of spindle's language (issues 5 and 10). Keep this list in step
# with the interpreter; widening it and re-running selects more examples.
BUILTINS = {"print", "string", "int", "bigint", "typeof", "size", "list",
            "intvec", "insert", "delete", "defined", "kill", "execute",
            "quote", "eval", "ERROR", "listvar", "load", "find", "sprintf",
            "printf", "gcd", "prime", "primefactors", "sleep", "timer",
            "rtimer",
            # packages, names and debug output (issue 24)
            "exportto", "export", "nameof", "Top", "Current", "all",
            "dbprint", "printlevel", "voice", "type",
            # issue 24: intmat and newstruct
            "nrows", "ncols", "transpose", "trace", "newstruct",
            # issue 24: files and pipes (ASCII links and "|:" pipes)
            "open", "close", "read", "write", "status", "dump",
            # ssi:fork links on jobs
            "waitall", "waitfirst",
            # later: the clock, chance, memory and the names in use
            "datetime", "random", "memory", "names", "newline",
            # formatted output, numbers, tracing
            "fprintf", "min", "max", "extgcd", "det", "TRACE", "option", "chinrem",
            "importfrom"}
# option(...)'s names are names of options, not of variables
_OPTS = ["prot", "redSB", "notBuckets", "notSugar", "interrupt", "sugarCrit",
         "teach", "notSyzMinim", "returnSB", "fastHC", "staircaseBound",
         "multBound", "degBound", "redTailSyz", "redTail", "redThrough", "lazy",
         "intStrategy", "infRedTail", "notRegularity", "weightM",
         "assign_none", "mem", "yacc", "redefine", "reading", "loadLib",
         "debugLib", "loadProc", "defRes", "usage", "Imap", "prompt", "length",
         "notWarnSB", "contentSB", "cancelunit", "modpsolve", "geometricSB",
         "findMonomials", "coefStrat", "qringNF", "warn", "intersectSyz",
         "intersectElim", "not_tricks"]
OPTION_NAMES = set(_OPTS) | {"no" + o for o in _OPTS} | {"none", "get", "set"}

# Libraries spindle ships (scripts/lib): an example may load these, and the
# procedures they define count as spindle's, but for the ones that only say
# they need Singular's algebra (their body calls *_algebra(...)).
LIBDIR = os.path.join(HERE, "..", "..", "scripts", "lib")
PROC = re.compile(r'^proc\s+([A-Za-z_@][A-Za-z0-9_@]*)\s*\([^)]*\)\s*\{([^\n]*)',
                  re.M)


def shipped_libs():
    """{"name.lib": set of its procedures} of the libraries spindle ships."""
    libs = {}
    for f in sorted(os.listdir(LIBDIR)):
        if f.endswith(".lib"):
            with open(os.path.join(LIBDIR, f), encoding="latin-1") as fh:
                text = fh.read()
            libs[f] = {m.group(1) for m in PROC.finditer(text)
                       if "_algebra(" not in m.group(2)}
    return libs


SHIPPED = shipped_libs()

# Examples whose output depends on timing in any implementation: dropped.
RACY = {"Pipe_links": "the read status of a pipe just opened depends on "
                      "how soon the command writes"}

# Link types spindle has no driver for: a link description naming one.
# link types spindle has no driver for (it has ASCII, "|:", ssi files and
# ssi:fork links)
FOREIGN_LINKS = re.compile(r'^\s*(DBM|MPtcp|MPfile|ssi:(?:tcp|connect|launch))\b', re.I)

# Names whose value depends on the machine, the clock or chance: an example
# using one is dropped even if it is otherwise ring-free.
NONDETERMINISTIC = {"timer", "rtimer", "sleep", "random", "memory",
                    "datetime", "getdump", "system"}

# The algebra of Singular: names that mark an example as not ring-free.
ALGEBRA = {"ring", "qring", "poly", "ideal", "matrix", "module", "number",
           "map", "resolution", "vector", "bigintmat", "basering",
           "var", "par", "nvars", "npars", "std", "groebner", "minpoly",
           "char", "imap", "fetch", "setring", "cring", "smatrix", "cone",
           "fan", "polytope", "Pyobject", "pyobject", "keepring"}

DECL_WORDS = TYPES | {"ring", "qring", "poly", "ideal", "matrix", "module",
                      "number", "map", "resolution", "vector", "intmat",
                      "bigintmat", "link", "package", "cone", "fan",
                      "polytope", "pyobject", "smatrix", "cring"}

TOKEN = re.compile(r'''
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:\\.|[^"\\])*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9]+)
  | (?P<pkg>::)
  | (?P<punct>\S)
''', re.S | re.X)


def tokens(text):
    """(kind, value) pairs of Singular source, comments dropped."""
    out = []
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind != "comment":
            out.append((kind, m.group(kind)))
    return out


def unquote(lit):
    return re.sub(r'\\(.)', r'\1', lit[1:-1])


def declared_names(toks):
    """Names a script declares: variables, procs and proc parameters."""
    names = set()
    i = 0
    while i < len(toks):
        kind, val = toks[i]
        if kind == "ident" and val in DECL_WORDS and i + 1 < len(toks) \
                and toks[i + 1][0] == "ident":
            i += 1
            names.add(toks[i][1])
            if val == "proc":
                i = proc_params(toks, i + 1, names)
                continue
            while i + 2 < len(toks) and toks[i + 1] == ("punct", ",") \
                    and toks[i + 2][0] == "ident":
                i += 2
                names.add(toks[i][1])
        i += 1
    return names


def proc_params(toks, i, names):
    """Collect the parameter names of `proc f(int a, b)`; return next index."""
    if i >= len(toks) or toks[i] != ("punct", "("):
        return i
    i += 1
    while i < len(toks) and toks[i] != ("punct", ")"):
        if toks[i][0] == "ident" and i + 1 < len(toks) \
                and toks[i + 1][1] in (",", ")"):
            names.add(toks[i][1])
        i += 1
    return i


def strip_harness(text):
    """The example as a plain script: no tst.lib lines."""
    text = re.sub(r'LIB\s+"tst\.lib"\s*;', "", text)
    text = re.sub(r'tst_init\s*\(\s*\)\s*;', "", text)
    text = re.sub(r'tst_ignore\s*\([^)]*\)\s*;', "", text)
    text = re.sub(r'/\*\s*\*/', "", text)
    text = re.sub(r'(tst_status\s*\(\s*1\s*\)\s*;\s*\$?\s*)+$', "", text)
    lines = [ln.rstrip() for ln in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n"


def string_code(toks):
    """Tokens of the string literals, read as code (they may be executed)."""
    inner = []
    for kind, val in toks:
        if kind == "string":
            inner += tokens(unquote(val))
    return inner


def classify(script):
    """('selected'|'excluded'|'dropped', reason) for one plain script."""
    toks = tokens(script)
    inner = string_code(toks)
    idents = [v for k, v in toks if k == "ident"]
    words = set(idents) | {v for k, v in inner if k == "ident"}
    libs = [unquote(v) for j, (k, v) in enumerate(toks[1:], 1)
            if k == "string" and toks[j - 1] == ("ident", "LIB")]
    if "LIB" in idents and not libs:
        libs = ["?"]
    reasons = []
    foreign_libs = sorted(set(libs) - set(SHIPPED))
    if foreign_libs:
        reasons.append("LIB " + ",".join(foreign_libs))
    lib_procs = set()
    for lib in set(libs) & set(SHIPPED):
        lib_procs |= SHIPPED[lib]
    alg = sorted(words & ALGEBRA)
    if alg:
        reasons.append("algebra or matrix types: " + ",".join(alg))
    if "system" in words:
        reasons.append("system(...)")
    if any(k == "pkg" for k, _ in toks + inner):
        reasons.append("package names (::)")
    foreign = sorted({FOREIGN_LINKS.match(unquote(v)).group(1) for k, v in toks
                      if k == "string" and FOREIGN_LINKS.match(unquote(v))})
    if foreign:
        reasons.append("link types outside spindle: " + ",".join(foreign))
    known = TYPES | KEYWORDS | BUILTINS | declared_names(toks + inner) \
        | {"LIB", "_"} | lib_procs | OPTION_NAMES
    other = sorted(set(idents) - known - ALGEBRA - {"system"})
    if other:
        reasons.append("outside spindle: " + ",".join(other[:8])
                       + (",..." if len(other) > 8 else ""))
    nondet = sorted(words & NONDETERMINISTIC)
    if reasons:
        if nondet:
            reasons.append("also machine-dependent: " + ",".join(nondet))
        return "excluded", "; ".join(reasons)
    if nondet:
        return "dropped", "machine-dependent: uses " + ",".join(nondet)
    return "selected", "ring-free"


def read_examples(args):
    """{name: text} of every Tst/Manual/*.tst."""
    ex = {}
    if args.tst_dir:
        for f in sorted(os.listdir(args.tst_dir)):
            if f.endswith(".tst"):
                with open(os.path.join(args.tst_dir, f),
                          encoding="latin-1") as fh:
                    ex[f[:-4]] = fh.read()
        return ex
    git = ["git", "--git-dir", args.git_dir]
    ls = subprocess.run(git + ["ls-tree", "--name-only", args.rev,
                               "Tst/Manual/"], check=True,
                        capture_output=True, text=True).stdout.split()
    for path in ls:
        if path.endswith(".tst"):
            blob = subprocess.run(git + ["show", args.rev + ":" + path],
                                  check=True, capture_output=True).stdout
            ex[os.path.basename(path)[:-4]] = blob.decode("latin-1")
    return ex


def run_singular(singular, mandir, name):
    r = subprocess.run([singular, "-q", name + ".sing"], cwd=mandir,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120,
                       env=dict(os.environ, LC_ALL="C"))
    return r.stdout, r.returncode


ADDRESS = re.compile(rb'0x[0-9a-fA-F]{6,}')


def generate(singular, examples, table):
    """Write manual/NAME.{sing,out,rc}; demote machine-dependent ones."""
    mandir = os.path.join(HERE, "manual")
    os.makedirs(mandir, exist_ok=True)
    for name, (status, _) in sorted(table.items()):
        if status != "selected":
            continue
        base = os.path.join(mandir, name)
        with open(base + ".sing", "w", encoding="latin-1") as fh:
            fh.write(strip_harness(examples[name]))
        out1, rc1 = run_singular(singular, mandir, name)
        out2, rc2 = run_singular(singular, mandir, name)
        why = None
        if (out1, rc1) != (out2, rc2):
            why = "machine-dependent: output differs between two runs"
        elif ADDRESS.search(out1):
            why = "machine-dependent: prints a memory address"
        if why:
            table[name] = ("dropped", why)
            os.remove(base + ".sing")
            continue
        with open(base + ".out", "wb") as fh:
            fh.write(out1)
        if rc1 != 0:
            with open(base + ".rc", "w") as fh:
                fh.write("%d\n" % rc1)
        elif os.path.exists(base + ".rc"):
            os.remove(base + ".rc")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--git-dir", help="Singular's git directory")
    src.add_argument("--tst-dir", help="a directory of Tst/Manual/*.tst")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--generate", action="store_true",
                    help="write manual/*.sing, *.out, *.rc with Singular")
    ap.add_argument("--singular", default="Singular")
    args = ap.parse_args()
    examples = read_examples(args)
    table = {n: classify(strip_harness(t)) for n, t in examples.items()}
    for n, why in RACY.items():
        if n in table and table[n][0] == "selected":
            table[n] = ("dropped", "machine-dependent: " + why)
    if args.generate:
        generate(args.singular, examples, table)
    with open(os.path.join(HERE, "classification.tsv"), "w") as fh:
        fh.write("# example\tstatus\treason\n")
        for name in sorted(table):
            fh.write("%s\t%s\t%s\n" % ((name,) + table[name]))
    counts = {}
    for status, _ in table.values():
        counts[status] = counts.get(status, 0) + 1
    print("%d examples: %s" % (len(table), ", ".join(
        "%d %s" % (c, s) for s, c in sorted(counts.items()))))


if __name__ == "__main__":
    sys.exit(main())
