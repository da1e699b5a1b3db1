"""scripts/examples/tour.ipynb executed headlessly, as `jupyter nbconvert
--to notebook --execute` does (Debian's jupyter-nbconvert), with the build
tree's kernel; every code cell must give its expected output and no
error. Skipped (77) without nbconvert or jupyter_client."""
import json
import os
import shutil
import subprocess

from kernel_test import PYTHON, SRCDIR, check, finish, kernel_spec_dir, skip, tmpdir

try:
    import jupyter_client  # noqa: F401
    import nbconvert  # noqa: F401
except ImportError as e:
    skip("no nbconvert/jupyter_client in this python3: %s" % e)

work = tmpdir()
shutil.copy(os.path.join(SRCDIR, "scripts", "examples", "tour.ipynb"), work)
env = dict(os.environ, JUPYTER_PATH=kernel_spec_dir())
# `jupyter nbconvert` is this module run by Debian's python3
r = subprocess.run([PYTHON, "-m", "nbconvert", "--to", "notebook", "--execute",
                    "--ExecutePreprocessor.timeout=60", "tour.ipynb", "--output", "executed.ipynb"],
                   cwd=work, env=env, capture_output=True, text=True, timeout=300)
check(r.returncode == 0, "nbconvert --execute succeeds", r.stderr[-2000:])
if r.returncode == 0:
    with open(os.path.join(work, "executed.ipynb")) as f:
        nb = json.load(f)
    check(nb["metadata"]["kernelspec"]["name"] == "spindle", "the notebook names the spindle kernel", nb["metadata"])

    def outputs(cell):
        got = []
        for o in cell["outputs"]:
            if o["output_type"] == "stream":
                got.append(("stream", o["name"], "".join(o["text"])))
            elif o["output_type"] == "execute_result":
                got.append(("result", "".join(o["data"]["text/plain"])))
            else:
                got.append((o["output_type"], o.get("evalue")))
        return got

    want = [
        [("result", "15511210043330985984000000")],
        [("stream", "stdout", "1,2,3\n"), ("result", "4")],
        [("result", "25")],
        [("result", "144")],
        [("result", "done")],
    ]
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    check(len(code) == len(want), "five code cells", len(code))
    for i, (c, w) in enumerate(zip(code, want)):
        check(outputs(c) == w and c["execution_count"] == i + 1, "cell %d" % (i + 1), outputs(c))
finish()
