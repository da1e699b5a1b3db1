"""Helpers of the kernel tests (tests/kernel/*.py): paths, skips, checks,
and a kernel spec for the build tree's spindle."""
import atexit
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("abs_top_srcdir") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("abs_top_builddir") or os.getcwd()
SPINDLE = os.environ.get("SPINDLE") or os.path.join(BUILDDIR, "spindle")
PYTHON = os.environ.get("PYTHON_FOR_JUPYTER") or "/usr/bin/python3"
KERNEL_PY = os.path.join(SRCDIR, "scripts", "jupyter", "spindle_kernel.py")

failures = []


def skip(why):
    print("skipped:", why)
    sys.exit(77)


def check(cond, what, got=None):
    if cond:
        print("ok:", what)
    else:
        failures.append(what)
        print("FAIL:", what, "" if got is None else "-- got %r" % (got,))


def finish():
    if failures:
        print("%d failed" % len(failures))
        sys.exit(1)
    print("all passed")
    sys.exit(0)


def tmpdir():
    """a directory removed at exit"""
    d = tempfile.mkdtemp(prefix="spindle-kernel-test-")
    atexit.register(shutil.rmtree, d, True)
    return d


def kernel_spec_dir():
    """a JUPYTER_PATH directory whose kernels/spindle runs the build tree"""
    d = tmpdir()
    os.makedirs(os.path.join(d, "kernels", "spindle"))
    with open(os.path.join(SRCDIR, "scripts", "jupyter", "kernel.json.in")) as f:
        text = f.read()
    text = (text.replace("@PYTHON@", PYTHON).replace("@KERNELPY@", KERNEL_PY)
            .replace("@SPINDLE@", SPINDLE))
    json.loads(text)
    with open(os.path.join(d, "kernels", "spindle", "kernel.json"), "w") as f:
        f.write(text)
    return d
