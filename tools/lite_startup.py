"""IPython startup file of the Pyodide emulation (tools/lite_emulate.py): what Pyodide cannot do, refused.

The kernel still has threads and sockets to start when startup files run, so
the restrictions are applied just before the first cell runs (IPython's
``pre_run_cell`` event): from then on, as in Pyodide, starting a thread (but
for the kernel's own), a subprocess or a fork, or opening a socket, raises; and
``sys.platform`` is
``"emscripten"``, so the lines that the lite copies guard take their browser
branch. Only active when ``SBK_PYODIDE_EMULATION=1``.
"""

import os

# Packages whose threads are the kernel's, not the notebook's.
KERNEL = {"zmq", "ipykernel", "jupyter_client", "tornado", "IPython", "comm", "asyncio"}

if os.environ.get("SBK_PYODIDE_EMULATION") == "1":

    def _emulate_pyodide(*_args):
        import _thread
        import socket
        import subprocess
        import sys
        import threading

        if sys.platform == "emscripten":
            return

        def refuse(what, error):
            def refused(*args, **kwargs):
                raise error(f"{what} are not available in Pyodide (make test-lite emulates it)")

            return refused

        # The kernel's own threads (pyzmq's garbage collector for large outputs, ...) still start.
        start = threading.Thread.start

        def start_unless_user(self):
            plain = type(self) in (threading.Thread, threading.Timer)
            target = getattr(self, "_target", None) or getattr(self, "function", None)
            owner = (getattr(target, "__module__", None) if plain else type(self).__module__) or ""
            if owner.split(".")[0] in KERNEL:
                return start(self)
            return refuse("threads", RuntimeError)()

        threading.Thread.start = start_unless_user
        _thread.start_new_thread = _thread.start_new = refuse("threads", RuntimeError)
        subprocess.Popen.__init__ = refuse("subprocesses", OSError)
        for name in ("fork", "forkpty", "system", "popen", "posix_spawn", "posix_spawnp", "execv", "execve"):
            if hasattr(os, name):
                setattr(os, name, refuse("processes", OSError))
        socket.socket.__init__ = refuse("network sockets", OSError)
        sys.platform = "emscripten"

    get_ipython().events.register("pre_run_cell", _emulate_pyodide)  # noqa: F821 - an IPython startup file
