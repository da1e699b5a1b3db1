"""The kernel protocol itself: `spindle --kernel` driven over its pipes
with the standard library only (lang/README.md, "The kernel protocol").
Every line spindle writes must be one JSON object, whatever the script
and its jobs print; bad requests get protocol_error replies, never a
crash; SIGINT interrupts a running cell; the session outlives errors."""
import json
import os
import select
import signal
import subprocess
import time

from kernel_test import SPINDLE, check, finish


class Kernel:
    def __init__(self):
        self.p = subprocess.Popen([SPINDLE, "--kernel"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.bad_lines = []
        self.n = 0

    def send_raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, req):
        self.n += 1
        req.setdefault("id", self.n)
        self.send_raw((json.dumps(req) + "\n").encode())
        return req["id"]

    def read(self, timeout=30):
        """the next message (None at end of file)"""
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no message from spindle within %ss" % timeout)
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 1 << 16)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            msg = json.loads(line.decode("utf-8"))
            if not isinstance(msg, dict) or "type" not in msg or "id" not in msg:
                raise ValueError("not a message")
            return msg
        except ValueError:
            self.bad_lines.append(line)
            return {"type": "?", "id": None, "line": line}

    def until(self, rid, kind, timeout=30):
        """messages up to and including the reply `kind` with id rid"""
        got = []
        while True:
            m = self.read(timeout)
            if m is None:
                raise EOFError("spindle ended")
            got.append(m)
            if m["type"] == kind and m["id"] == rid:
                return got

    def execute(self, code, timeout=30, **kw):
        rid = self.send(dict({"type": "execute", "code": code}, **kw))
        msgs = self.until(rid, "execute_reply", timeout)
        return msgs[-1], msgs[:-1]


def text_of(msgs, kinds=("stream", "display"), name=None):
    return "".join(m["text"] for m in msgs if m["type"] in kinds and (name is None or m.get("name") == name))


k = Kernel()
ready = k.read()
check(ready["type"] == "ready" and ready["protocol"] == 1 and ready["language"] == "spindle"
      and ready["file_extension"] == ".sing", "ready message first", ready)

rid = k.send({"type": "info", "id": "info-1"})
m = k.read()
check(m["type"] == "info_reply" and m["id"] == "info-1" and m["version"], "info_reply echoes a string id", m)

# output: prints are stdout streams, `x;` values are displays, in order
rep, out = k.execute('int x = 41; print("first"); x + 1; "é ü";')
check(rep["status"] == "ok" and rep["interrupted"] is False, "execute ok", rep)
check([(m["type"], m["text"]) for m in out] == [("stream", "first\n"), ("display", "42\n"), ("display", "é ü\n")],
      "stream and display in order, UTF-8 kept", out)
check(all(m["id"] == rep["id"] for m in out), "output carries the cell's id", out)

# errors: the message with the cell's name and line; the session goes on
rep, out = k.execute('x;\n\nnosuch + 1;\n"not reached";', file="In[3]")
check(rep["status"] == "error" and rep["line"] == 3 and rep["message"].startswith("In[3]:3: "),
      "error with the cell's file and line", rep)
check(text_of(out) == "41\n", "output before the error is sent before the reply", out)
rep, out = k.execute("proc f(int n) {\n  return(n div 0);\n}\nf(1);", file="In[4]")
check(rep["status"] == "error" and rep["line"] == 2 and "in proc f" in rep["message"], "error inside a proc", rep)
rep, out = k.execute("int y = ;", file="In[5]")
check(rep["status"] == "error" and "syntax error" in rep["message"] and rep["line"] == 1, "syntax error", rep)
rep, out = k.execute("x + 1; f;")
check(rep["status"] == "ok" and text_of(out).startswith("42\n"), "the session goes on after errors", out)

# stderr is a stream of its own (a warning of the language)
rep, out = k.execute('ERROR("from the script");')
check(rep["status"] == "error" and "from the script" in rep["message"], "ERROR() is an error reply", rep)

# bad requests: protocol_error replies, never a crash
for raw, what in [(b"not json\n", "bad JSON"), (b"[1, 2]\n", "not an object"),
                  (b'{"type": "execute", "code": "1;"\n', "unterminated object"),
                  (b'{"type": "execute", "code": "\\q"}\n', "bad escape"),
                  (b'{"type": "execute", "code": "1;"} x\n', "text after the object"),
                  (b'{"type": "execute", "code": "\xff"}\n', "invalid UTF-8"),
                  (b'{"id": 7, "type": 3}\n', "type not a string"),
                  (b'{"id": 8}\n', "no type")]:
    k.send_raw(raw)
    m = k.read()
    check(m["type"] == "protocol_error" and m["message"].startswith("bad request"), what, m)
rid = k.send({"type": "frobnicate", "id": {"deep": [1, 2, {"x": None}]}})
m = k.read()
check(m["type"] == "protocol_error" and m["id"] == {"deep": [1, 2, {"x": None}]}
      and "unknown request type" in m["message"], "unknown request type, any JSON id echoed", m)
k.send({"type": "execute"})
m = k.read()
check(m["type"] == "protocol_error" and "needs \"code\"" in m["message"], "execute without code", m)
k.send({"type": "execute", "code": "1;", "cursor_pos": "x"})
m = k.read()
check(m["type"] == "protocol_error", "a field of the wrong type", m)
k.send_raw(b"\n\r\n")   # empty lines are ignored
rep, out = k.execute('"still here";', extra={"unknown": ["fields", "are", "ignored"]})
check(rep["status"] == "ok" and text_of(out) == "still here\n", "alive after bad requests, unknown fields ignored", out)

# completion and is_complete
k.execute("int counterA = 1; proc countUp() { return(1); }")
rid = k.send({"type": "complete", "code": "y = 1 + coun", "cursor_pos": 12})
m = k.read()
check(m["type"] == "complete_reply" and m["matches"] == ["countUp", "counterA"]
      and m["cursor_start"] == 8 and m["cursor_end"] == 12, "complete globals", m)
rid = k.send({"type": "complete", "code": "whi"})
m = k.read()
check(m["matches"] == ["while"] and m["cursor_start"] == 0, "complete a keyword, cursor at the end by default", m)
for code, want in [("proc g() {", "incomplete"), ('"open', "incomplete"), ("1 + 1", "incomplete"),
                   ("1 + 1;", "complete"), ("", "complete")]:
    k.send({"type": "is_complete", "code": code})
    m = k.read()
    check(m["type"] == "is_complete_reply" and m["status"] == want, "is_complete %r" % code, m)

# SIGINT: a loop of the cell, then a wait on a spinning job; pools survive
rid = k.send({"type": "execute", "code": "int i; while (1) { i++; }"})
time.sleep(0.5)
k.p.send_signal(signal.SIGINT)
msgs = k.until(rid, "execute_reply", 10)
rep = msgs[-1]
check(rep["status"] == "error" and rep["interrupted"] is True, "SIGINT interrupts a loop", rep)
rep, out = k.execute('LIB "systhreads.lib"; threadpool p = createThreadPool(2);\n'
                     'proc spin() { while (1) { } }\njob f = startJob(p, "spin");')
check(rep["status"] == "ok", "a pool and a spinning job", rep)
rid = k.send({"type": "execute", "code": "waitJob(f);", "file": "In[w]"})
time.sleep(0.5)
t0 = time.time()
k.p.send_signal(signal.SIGINT)
msgs = k.until(rid, "execute_reply", 10)
rep = msgs[-1]
check(rep["status"] == "error" and rep["interrupted"] is True and rep["message"] == "In[w]:1: interrupted",
      "SIGINT ends a wait on a spinning job", rep)
check(time.time() - t0 < 2, "within a moment", time.time() - t0)
rep, out = k.execute('jobStatus(f); p; proc add(int a, int b) { return(a + b); }\n'
                     'waitJob(startJob(p, "add", 20, 22)); cancelJob(f);')
check(rep["status"] == "ok" and text_of(out) == "running\n<threadpool 2 workers>\n42\n",
      "the pool and the job survive the interrupt", out)
k.p.send_signal(signal.SIGINT)   # between cells: no effect on the next one
time.sleep(0.2)
rep, out = k.execute("int s; for (int j = 0; j < 20000; j++) { s = s + j; } s;")
check(rep["status"] == "ok" and text_of(out) == "199990000\n", "an interrupt between cells is forgotten", (rep, out))

# jobs printing on other threads, during a cell and after it: every line
# spindle writes is still one JSON message, and nothing is lost
rep, out = k.execute(
    'proc chatter(int w) { for (int i = 1; i <= 300; i++) { print("job " + string(w) + " line " + string(i)); } return(w); }\n'
    'list js; for (int w = 1; w <= 4; w++) { js = js + list(startJob(p, "chatter", w)); }\n'
    'for (int i = 1; i <= 300; i++) { print("main line " + string(i)); }\n'
    'for (int w = 1; w <= 4; w++) { int r = waitJob(js[w]); }')
lines = text_of(out, name="stdout").splitlines()
extra = [l for l in lines if not l.startswith(("job ", "main line"))]
check(not extra, "nothing else in the output", extra[:5])
check(rep["status"] == "ok" and len(lines) == 1500 and len(set(lines)) == 1500,
      "1500 lines from 5 threads, each whole", (rep, len(lines)))
check(lines.count("main line 300") == 1 and [l for l in lines if l.startswith("main")] ==
      ["main line %d" % i for i in range(1, 301)], "the main flow's lines in order", None)
rep, out = k.execute('job late = startJob(p, "chatter", 9); "cell done";')
late = text_of(out).splitlines()
while len([l for l in late if l.startswith("job 9")]) < 300:
    m = k.read(10)
    check(m["type"] == "stream", "output after the cell comes as stream messages", m)
    if m["type"] != "stream":
        break
    late += m["text"].splitlines()
check(len([l for l in late if l.startswith("job 9")]) == 300, "a job's output after its cell ends", len(late))

# big output
rep, out = k.execute('string s = "0123456789"; for (int i = 0; i < 20000; i++) { print(s + s + s + s + s); }')
big = text_of(out, name="stdout")
check(rep["status"] == "ok" and len(big) == 20000 * 51, "1 MB of output", (len(big), [l for l in big.splitlines() if not l.startswith("0123")][:5]))
check(not k.bad_lines, "every line was a JSON message", k.bad_lines[:3])

# quit ends the session with its status
rep, out = k.execute("quit(3);")
check(rep["status"] == "ok" and rep["quit"] == 3, "quit reply", rep)
check(k.p.wait(10) == 3, "exit status of quit", k.p.returncode)

# end of input: a last request without a newline still runs, exit 0
k = Kernel()
k.read()
k.send_raw(b'{"type": "execute", "id": 1, "code": "\\"last\\";"}')
k.p.stdin.close()
msgs = k.until(1, "execute_reply")
check(text_of(msgs) == "last\n", "a last request without a newline", msgs)
check(k.read() is None and k.p.wait(10) == 0, "end of input ends the session, status 0", k.p.returncode)

# shutdown
k = Kernel()
k.read()
k.execute('LIB "systhreads.lib"; threadpool q = createThreadPool(1); proc spin() { while (1) { } }\n'
          'job f = startJob(q, "spin");')
k.send({"type": "shutdown", "id": "bye"})
m = k.read()
check(m["type"] == "shutdown_reply" and m["id"] == "bye", "shutdown_reply", m)
check(k.p.wait(10) == 0, "shutdown ends the process", k.p.returncode)
check(b"closed at exit" in k.p.stderr.read(), "messages at exit go to stderr, not the protocol", None)
check(k.read() is None, "nothing after the shutdown reply", None)

finish()
