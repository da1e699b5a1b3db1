"""The Jupyter kernel (scripts/jupyter/spindle_kernel.py) driven through
jupyter_client as a notebook would: start, kernel_info, execute with its
output, an error with its line while the session goes on, completion,
is_complete, an interrupt of a cell waiting on a spinning job, pools and
jobs surviving across cells, quit, shutdown. Skipped (77) when Debian's
python3 lacks jupyter_client or ipykernel."""
import os
import time

from kernel_test import check, finish, kernel_spec_dir, skip

try:
    import ipykernel  # noqa: F401  (the kernel needs it)
    from jupyter_client.manager import start_new_kernel
except ImportError as e:
    skip("no jupyter_client/ipykernel in this python3: %s" % e)

os.environ["JUPYTER_PATH"] = kernel_spec_dir()
km, kc = start_new_kernel(kernel_name="spindle", startup_timeout=60)


def collect(mid, timeout=30):
    """(reply content, [(msg_type, content)]) of request mid"""
    out = []
    deadline = time.time() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
        if m["parent_header"].get("msg_id") != mid:
            continue
        t = m["msg_type"]
        if t == "status" and m["content"]["execution_state"] == "idle":
            break
        if t in ("stream", "execute_result", "error"):
            out.append((t, m["content"]))
    while True:
        r = kc.get_shell_msg(timeout=timeout)
        if r["parent_header"].get("msg_id") == mid:
            return r["content"], out


def run(code, timeout=30):
    # stop_on_error=False: else ipykernel aborts a request that arrives
    # right after an error (its own behaviour, for every language)
    return collect(kc.execute(code, stop_on_error=False), timeout)


def stdout(out):
    return "".join(c["text"] for t, c in out if t == "stream" and c["name"] == "stdout")


def result(out):
    r = [c["data"]["text/plain"] for t, c in out if t == "execute_result"]
    return r[0] if len(r) == 1 else r


try:
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=30)["content"]
    li = info["language_info"]
    check(info["status"] == "ok" and info["implementation"] == "spindle_kernel"
          and li["name"] == "spindle" and li["file_extension"] == ".sing" and li["version"]
          and li["codemirror_mode"], "kernel_info with language_info", info)

    rep, out = run("int x = 41;\nx + 1;")
    check(rep["status"] == "ok" and result(out) == "42" and rep["execution_count"] == 1,
          "the last value is the execute_result", (rep, out))
    rep, out = run('print("printed"); x; "last";')
    check(stdout(out) == "printed\n41\n" and result(out) == "last",
          "prints and earlier values are stdout, in order", out)
    rep, out = run('list l = 1, "two", list(3);\nl;')
    check(result(out) == "[1]:\n   1\n[2]:\n   two\n[3]:\n   [1]:\n      3",
          "values displayed as the REPL displays them", out)

    rep, out = run('"before";\ny = x +;\n')
    errs = [c for t, c in out if t == "error"]
    check(rep["status"] == "error" and rep["ename"] == "SyntaxError" and len(errs) == 1
          and errs[0]["traceback"][-1] == "----> 2 y = x +;", "a syntax error, with its line", (rep, out))
    rep, out = run("x;\nnosuch(1);\n\"not reached\";")
    errs = [c for t, c in out if t == "error"]
    check(rep["status"] == "error" and errs and errs[0]["evalue"].startswith("In[")
          and ":2: " in errs[0]["evalue"] and errs[0]["traceback"][-1] == "----> 2 nosuch(1);"
          and stdout(out) == "41\n" and not result(out), "a run-time error, with its line", (rep, out))
    rep, out = run("x + 2;")
    check(rep["status"] == "ok" and result(out) == "43", "the session goes on after errors", out)

    mid = kc.complete("int total = 1; tot", 18)
    c = kc.get_shell_msg(timeout=30)["content"]
    check(c["matches"] == [] and c["cursor_start"] == 15, "completion sees only defined names", c)
    run("int total = 1; proc totalize() { return(0); }")
    kc.complete("é = tot", 7)
    c = kc.get_shell_msg(timeout=30)["content"]
    check(c["matches"] == ["total", "totalize"] and c["cursor_start"] == 4 and c["cursor_end"] == 7,
          "completion of names (cursor in code points)", c)
    kc.complete("threadP", 7)
    c = kc.get_shell_msg(timeout=30)["content"]
    check(c["matches"] == [], "no thread builtins before the plugin is loaded", c)
    kc.is_complete("proc f() {")
    c = kc.get_shell_msg(timeout=30)["content"]
    check(c["status"] == "incomplete", "is_complete", c)

    rep, out = run('LIB "systhreads.lib";\nthreadpool pool = createThreadPool(2);\n'
                   'proc spin() { while (1) { } }\nproc add(int a, int b) { return(a + b); }\n'
                   'job spinner = startJob(pool, "spin");\npool;')
    check(rep["status"] == "ok" and result(out) == "<threadpool 2 workers>", "a pool and a spinning job", out)
    kc.complete("threadPoolEx", 12)
    c = kc.get_shell_msg(timeout=30)["content"]
    check("threadPoolExec" in c["matches"], "completion of the plugin's builtins", c)

    mid = kc.execute("waitJob(spinner);", stop_on_error=False)
    time.sleep(1.0)
    t0 = time.time()
    km.interrupt_kernel()
    rep, out = collect(mid, 20)
    errs = [c for t, c in out if t == "error"]
    check(rep["status"] == "error" and rep["ename"] == "Interrupted" and errs
          and errs[0]["evalue"].endswith(":1: interrupted"), "interrupt ends the wait", (rep, out))
    check(time.time() - t0 < 5, "promptly", time.time() - t0)

    rep, out = run('jobStatus(spinner);\nwaitJob(startJob(pool, "add", 40, 2));')
    check(rep["status"] == "ok" and stdout(out) == "running\n" and result(out) == "42",
          "the pool and the job survive the interrupt", out)
    mid = kc.execute("int n; while (1) { n++; }", stop_on_error=False)
    time.sleep(0.5)
    km.interrupt_kernel()
    rep, out = collect(mid, 20)
    check(rep["status"] == "error" and rep["ename"] == "Interrupted", "interrupt a loop of the cell", rep)
    rep, out = run('cancelJob(spinner);\nwaitJob(startJob(pool, "add", n > 0, 1));')
    check(rep["status"] == "ok" and result(out) == "2", "globals survive across cells", out)

    rep, out = run('proc talk(int k) { for (int i = 1; i <= 50; i++) { print("job line " + string(i)); } return(k); }\n'
                   'job t = startJob(pool, "talk", 5);\nwaitJob(t);')
    check(stdout(out).count("job line") == 50 and result(out) == "5", "a job's prints reach the cell", out)

    rep, out = run("quit(0);")
    check(rep["status"] == "ok", "quit", rep)
    rep, out = run('defined(pool);\n"new session";')
    check(rep["status"] == "ok" and stdout(out) == "0\n" and result(out) == "new session",
          "after quit the next cell starts a new session", out)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
check(not km.is_alive(), "shutdown", None)
del kc   # now, while logging still works (its __del__ logs)
finish()
