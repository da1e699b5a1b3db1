"""spindle_kernel: a Jupyter kernel for spindle.

It runs one `spindle --kernel` process (one persistent session: globals,
procs, pools and jobs live across cells) and talks to it over the JSON
line protocol of lang/README.md ("The kernel protocol"). Debian's
python3-ipykernel and python3-jupyter-client; no other package.

Run by Jupyter from the kernel spec (kernel.json):
    python3 spindle_kernel.py --spindle=/usr/bin/spindle -f CONNECTION_FILE
The spindle program is --spindle=PATH, else $SPINDLE, else `spindle` on PATH.
"""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel

__version__ = "1.0"
PROTOCOL = 1
_spindle_program = os.environ.get("SPINDLE") or shutil.which("spindle") or "spindle"


class SessionEnded(Exception):
    """The spindle process ended (quit; or a crash)."""


class Session:
    """One `spindle --kernel` process. A reader thread takes its output:
    stream and display messages go to on_output at once (also between
    cells: jobs may print then), the rest to a queue that request() reads."""

    def __init__(self, program, on_output):
        self.on_output = on_output
        self.replies = queue.Queue()
        self.next_id = 0
        # same process group: an interrupt that Jupyter sends to the group
        # reaches spindle too; stderr is the kernel's (Jupyter's log)
        self.proc = subprocess.Popen(
            [program, "--kernel"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        ready = self.replies.get()
        if ready is None or ready.get("type") != "ready":
            raise SessionEnded("spindle --kernel did not start: %s" % self._status())
        if ready.get("protocol") != PROTOCOL:
            raise SessionEnded("spindle speaks kernel protocol %s, this kernel %d"
                               % (ready.get("protocol"), PROTOCOL))
        self.info = ready

    def _status(self):
        rc = self.proc.poll()
        if rc is None:
            return "still running"
        if rc < 0:
            return "killed by signal %d" % -rc
        return "exit status %d" % rc

    def _read(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                self.on_output("stderr", "spindle kernel: unreadable line: %r\n" % line[:200])
                continue
            if msg.get("type") in ("stream", "display"):
                self.on_output(msg["type"], msg)
            else:
                self.replies.put(msg)
        self.proc.wait()
        self.replies.put(None)

    def alive(self):
        return self.proc.poll() is None

    def send(self, req):
        self.next_id += 1
        req["id"] = self.next_id
        data = (json.dumps(req) + "\n").encode()
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except OSError:
            raise SessionEnded("spindle ended (%s)" % self._status())
        return self.next_id

    def wait(self, rid, on_interrupt=None):
        """The reply to request rid. A KeyboardInterrupt meanwhile (Jupyter's
        interrupt) calls on_interrupt and waits on."""
        while True:
            try:
                msg = self.replies.get(timeout=0.2)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                if on_interrupt:
                    on_interrupt()
                continue
            if msg is None:
                self.replies.put(None)   # every later wait sees it too
                raise SessionEnded("spindle ended (%s)" % self._status())
            if msg.get("id") != rid:
                continue
            if msg["type"] == "protocol_error":
                raise RuntimeError("spindle kernel protocol: " + msg.get("message", "?"))
            return msg

    def request(self, req, on_interrupt=None):
        return self.wait(self.send(req), on_interrupt)

    def interrupt(self):
        if self.alive():
            self.proc.send_signal(signal.SIGINT)

    def close(self, timeout=5):
        if self.alive():
            try:
                self.request({"type": "shutdown"})
            except (SessionEnded, RuntimeError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass


def _cp_to_byte(text, pos):
    """a code point offset (Jupyter's cursor_pos) as a UTF-8 byte offset"""
    return len(text[:pos].encode())


def _byte_to_cp(text, pos):
    return len(text.encode()[:pos].decode(errors="ignore"))


class SpindleKernel(Kernel):
    implementation = "spindle_kernel"
    implementation_version = __version__
    language = "spindle"
    language_info = {
        "name": "spindle",
        "mimetype": "text/x-spindle",
        "file_extension": ".sing",
        # Singular has no CodeMirror or Pygments mode; its syntax is C's
        "codemirror_mode": "text/x-csrc",
        "pygments_lexer": "c",
    }
    banner = "spindle: a Singular-style language with threads"
    help_links = []

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lock = threading.Lock()   # the held display and the parent
        self._held = None               # the last display of the running cell
        self._parent = None
        self.session_ = None
        self._start()

    # ---- the spindle process -------------------------------------------

    def _start(self):
        self.session_ = Session(_spindle_program, self._on_output)
        info = self.session_.info
        self.language_info = dict(self.language_info, version=info.get("version", ""))
        self.banner = info.get("banner", self.banner)

    def _ensure(self):
        if self.session_ is None or not self.session_.alive():
            if self.session_ is not None:
                self.session_.close()
            self._start()
            return True
        return False

    # ---- output, on the reader thread -----------------------------------

    def _publish(self, msg_type, content):
        with self._lock:
            parent = self._parent
        if parent is not None:
            self.session.send(self.iopub_socket, msg_type, content, parent,
                              ident=self._topic(msg_type))

    def _stream(self, name, text):
        self._publish("stream", {"name": name, "text": text})

    def _on_output(self, kind, msg):
        if kind == "stderr":   # the kernel's own complaint
            self._stream("stderr", msg)
            return
        now = None
        with self._lock:
            held, self._held = self._held, None
            if kind == "display":
                if self._parent is not None and msg.get("id") is not None:
                    self._held = msg["text"]   # the cell's result, unless more follows
                else:
                    now = msg["text"]
        if held is not None:                   # more followed: shown as printed
            self._stream("stdout", held)
        if kind == "stream":
            self._stream(msg["name"], msg["text"])
        elif now is not None:
            self._stream("stdout", now)

    # ---- requests --------------------------------------------------------

    def do_execute(self, code, silent, store_history=True, user_expressions=None,
                   allow_stdin=False, *, cell_id=None):
        with self._lock:
            self._parent = self.get_parent("shell")
            self._held = None
        try:
            if self._ensure() and self.execution_count > 1:
                self._stream("stderr", "(a new spindle session: the previous one ended)\n")
            reply = self.session_.request(
                {"type": "execute", "code": code, "file": "In[%d]" % self.execution_count},
                on_interrupt=self.session_.interrupt)
        except (SessionEnded, RuntimeError) as e:
            return self._error("SessionEnded", str(e), [str(e)], silent)
        with self._lock:
            held, self._held = self._held, None
        if held is not None and reply["status"] != "ok":
            self._stream("stdout", held)   # not the cell's result: it did not end
        elif held is not None and not silent:
            text = held[:-1] if held.endswith("\n") else held
            self._publish("execute_result", {
                "execution_count": self.execution_count,
                "data": {"text/plain": text}, "metadata": {}})
        if "quit" in reply:
            self._stream("stderr", "(the spindle session ended: quit; the next cell starts a new one)\n")
            self.session_.close()
        if reply["status"] == "ok":
            return {"status": "ok", "execution_count": self.execution_count,
                    "payload": [], "user_expressions": {}}
        message = reply.get("message", "error")
        traceback = [message]
        line = reply.get("line")
        if line:
            lines = code.split("\n")
            if 0 < line <= len(lines):
                traceback.append("----> %d %s" % (line, lines[line - 1]))
        if reply.get("interrupted"):
            ename = "Interrupted"
        elif "syntax error" in message:
            ename = "SyntaxError"
        else:
            ename = "Error"
        return self._error(ename, message, traceback, silent)

    def _error(self, ename, evalue, traceback, silent):
        content = {"ename": ename, "evalue": evalue, "traceback": traceback}
        if not silent:
            self._publish("error", content)
        return dict(content, status="error", execution_count=self.execution_count)

    def do_complete(self, code, cursor_pos):
        if cursor_pos is None:
            cursor_pos = len(code)
        try:
            self._ensure()
            r = self.session_.request({"type": "complete", "code": code,
                                       "cursor_pos": _cp_to_byte(code, cursor_pos)})
        except (SessionEnded, RuntimeError):
            return {"status": "ok", "matches": [], "cursor_start": cursor_pos,
                    "cursor_end": cursor_pos, "metadata": {}}
        return {"status": "ok", "matches": r["matches"],
                "cursor_start": _byte_to_cp(code, r["cursor_start"]),
                "cursor_end": _byte_to_cp(code, r["cursor_end"]), "metadata": {}}

    def do_is_complete(self, code):
        try:
            self._ensure()
            r = self.session_.request({"type": "is_complete", "code": code})
        except (SessionEnded, RuntimeError):
            return {"status": "unknown"}
        if r["status"] == "incomplete":
            return {"status": "incomplete", "indent": ""}
        return {"status": "complete"}

    def do_shutdown(self, restart):
        if self.session_ is not None:
            self.session_.close()
            self.session_ = None
        return {"status": "ok", "restart": restart}


def main(argv=None):
    global _spindle_program
    argv = list(sys.argv if argv is None else argv)
    rest = []
    for a in argv[1:]:
        if a.startswith("--spindle="):
            _spindle_program = a[len("--spindle="):]
        else:
            rest.append(a)
    IPKernelApp.launch_instance(argv=rest, kernel_class=SpindleKernel)


if __name__ == "__main__":
    main()
