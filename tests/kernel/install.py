"""`make install` of the kernel (scripts/jupyter/local.mk) into a DESTDIR:
the kernel spec lands in $(datadir)/jupyter/kernels/spindle with the
installed program's path and Debian's python3, the kernel in
$(pkgdatadir)/jupyter, and `jupyter kernelspec list` (jupyter_client's
kernelspec app) finds it through JUPYTER_PATH. Only these two install
targets run. Skipped (77) without jupyter_client or make."""
import json
import os
import shutil
import subprocess

from kernel_test import BUILDDIR, PYTHON, check, finish, skip, tmpdir

try:
    import jupyter_client  # noqa: F401
except ImportError as e:
    skip("no jupyter_client in this python3: %s" % e)
make = os.environ.get("MAKE") or shutil.which("make")
if not make:
    skip("no make")

dest = tmpdir()
env = dict(os.environ)
for v in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):   # not the parent's jobserver
    env.pop(v, None)
r = subprocess.run([make, "-s", "-C", BUILDDIR, "DESTDIR=" + dest,
                    "install-jupyterkernelDATA", "install-dist_spindlejupyterDATA"],
                   env=env, capture_output=True, text=True, timeout=300)
check(r.returncode == 0, "make install of the kernel", r.stdout[-1000:] + r.stderr[-1000:])

specs = []
for root, dirs, files in os.walk(dest):
    if "kernel.json" in files and root.endswith(os.path.join("jupyter", "kernels", "spindle")):
        specs.append(root)
check(len(specs) == 1, "one kernel spec installed under $(datadir)/jupyter/kernels/spindle", specs)
if specs:
    with open(os.path.join(specs[0], "kernel.json")) as f:
        spec = json.load(f)
    argv = spec["argv"]
    check(argv[0] == PYTHON and "{connection_file}" in argv, "argv runs Debian's python3", argv)
    kpy = [a for a in argv if a.endswith("spindle_kernel.py")]
    check(len(kpy) == 1 and os.path.isabs(kpy[0]) and not kpy[0].startswith(dest)
          and os.path.isfile(dest + kpy[0]), "the kernel module, installed where argv says", kpy)
    prog = [a for a in argv if a.startswith("--spindle=")]
    check(len(prog) == 1 and os.path.isabs(prog[0][10:]) and prog[0].endswith("/bin/spindle")
          and not prog[0][10:].startswith(dest), "the installed spindle's path", prog)
    check(spec["language"] == "spindle" and spec["interrupt_mode"] == "signal", "language, interrupt_mode", spec)
    jpath = os.path.dirname(os.path.dirname(specs[0]))   # .../share/jupyter
    env = dict(os.environ, JUPYTER_PATH=jpath)
    r = subprocess.run([PYTHON, "-m", "jupyter_client.kernelspecapp", "list", "--json"],
                       env=env, capture_output=True, text=True, timeout=120)
    try:
        listed = json.loads(r.stdout)["kernelspecs"]
    except ValueError:
        listed = {}
    check("spindle" in listed and listed["spindle"]["resource_dir"] == specs[0]
          and listed["spindle"]["spec"]["display_name"] == "spindle",
          "jupyter kernelspec list shows it", r.stdout[-1000:] + r.stderr[-1000:])
finish()
