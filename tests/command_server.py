"""A process that has imported TensorFlow once and forks one child per
command (`python -m MODULE ARGS`, `-c CODE ARGS` or `SCRIPT ARGS`), so that
the tests do not pay TensorFlow's import (3.5-5 s on 2 cores, 12 s beside a
training run) in every command.

tests/helpers.py starts one per pytest worker through ForkedProcess, the
client at the end of this file. Each child is a fresh process as far as a
command can tell: its own pid, the request's working folder, environment,
stdin, stdout and stderr (the client's pipes, passed over the socket), the
module, code or script run as __main__ with sys.argv and sys.path[0] as
python sets them, its exit code or signal reported. What differs from a new
python: TensorFlow and Keras were imported before the command ran, with the
server's environment (the client runs a new python when a request changes a
variable read at import), so TensorFlow's start-up lines are not in the
child's stderr.

Protocol, over a SOCK_SEQPACKET socket whose fd is the one argument: a pickled
request per message. {"start": {argv, cwd, env}} (argv: what follows
`python`) with three fds (stdin, stdout, stderr) is answered with the child's
pid, right away; {"wait": pid} with its returncode once it has ended.

Nothing here runs a TensorFlow op: the runtime's threads start in each child,
not before the fork.
"""

import atexit
import functools
import importlib
import io
import locale
import os
import pickle
import runpy
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback

MAX_MESSAGE = 1 << 20  # a request: argv and environment


def run_child(request, fds, server):
    """In the forked child: becomes the command's process, runs it, exits."""
    server.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    # New stdio objects on the new fds (the server's may hold buffered data),
    # with Python's defaults for pipes and files.
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False),
                                  errors="backslashreplace", line_buffering=True)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # TMPDIR is read again, as a new Python would
    code = 0
    try:
        run_as_main(request["argv"])
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()  # pylint: disable=protected-access
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)  # pylint: disable=protected-access


def run_as_main(argv):
    """What `python ARGV` runs: `-m MODULE ARGS`, `-c CODE ARGS` or
    `SCRIPT ARGS`, with sys.argv and sys.path[0] set as python sets them."""
    if argv[0] == "-m":
        module, *args = argv[1:]
        sys.argv = [module, *args]
        sys.path[0] = os.getcwd()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        code, *args = argv[1:]
        sys.argv = ["-c", *args]
        sys.path[0] = ""
        # pylint: disable-next=exec-used
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def serve(server):
    ended = {}  # pid -> returncode, reaped before anyone asked
    while True:
        data, fds, _, _ = socket.recv_fds(server, MAX_MESSAGE, 3)
        if not data:
            return
        request = pickle.loads(data)
        if "wait" in request:
            pid = request["wait"]
            while pid not in ended:
                done, status = os.waitpid(-1, 0)
                ended[done] = os.waitstatus_to_exitcode(status)
            server.send(pickle.dumps(ended.pop(pid)))
            continue
        pid = os.fork()
        if pid == 0:
            run_child(request["start"], fds, server)
        for fd in fds:
            os.close(fd)
        server.send(pickle.dumps(pid))


# -- The client (tests/helpers.py) --------------------------------------------

# The environment the server imports TensorFlow with: the worker's when this
# module is first imported (monkeypatching os.environ later changes nothing).
_SERVER_ENVIRONMENT = dict(os.environ)

# Read by TensorFlow, Keras or the dynamic loader when TensorFlow is
# imported (TF_CONFIG is read later, when a strategy finds its cluster).
_IMPORT_TIME_PREFIXES = ("TF_", "KERAS_", "CUDA_", "XLA_", "OMP_", "MKL",
                         "LD_", "PYTHON")
_READ_AFTER_IMPORT = ("TF_CONFIG",)


def changes_tensorflow_import(env):
    """Whether a command's environment differs from the server's in a
    variable read at import: then a forked child would not be what a new
    python with env is."""
    names = {name for name in set(env) | set(_SERVER_ENVIRONMENT)
             if name.startswith(_IMPORT_TIME_PREFIXES)
             and name not in _READ_AFTER_IMPORT}
    return any(env.get(name) != _SERVER_ENVIRONMENT.get(name) for name in names)


class ForkedProcess:
    """A command forked by this worker's command server, with what the tests
    use of a text-mode subprocess.Popen: pid, args, returncode, stdin, stdout
    and stderr (pipes, or None for DEVNULL), send_signal, kill, wait and
    communicate. One difference: a timeout kills the command (the server
    answers one request at a time)."""

    def __init__(self, argv, cwd, env, stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE):
        self.args = [os.fsdecode(arg) for arg in argv]
        self.returncode = None
        ours, theirs = [], []
        for ours_writes, how in ((True, stdin), (False, stdout), (False, stderr)):
            if how == subprocess.PIPE:
                read, write = os.pipe()
                mine, child = (write, read) if ours_writes else (read, write)
                ours.append(open(mine, "w" if ours_writes else "r",
                                 encoding=locale.getpreferredencoding(False)))
                theirs.append(child)
            else:
                assert how == subprocess.DEVNULL, how
                ours.append(None)
                theirs.append(os.open(os.devnull, os.O_RDWR))
        self.stdin, self.stdout, self.stderr = ours
        self.pid = _command_server().start(self.args, cwd, env, theirs)

    def send_signal(self, sig):
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout=None):
        if self.returncode is None:
            # Past the timeout the server has killed and reaped the command:
            # its returncode is kept, so that kill() and wait() after the
            # TimeoutExpired touch neither a reused pid nor the server.
            self.returncode, timed_out = _command_server().wait(self.pid,
                                                                timeout)
            if timed_out:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def communicate(self, input=None, timeout=None):  # pylint: disable=redefined-builtin
        """Writes input, reads stdout and stderr to their ends (threads, so
        that no pipe fills), waits; returns (stdout, stderr)."""
        outputs = {}

        def read(name, stream):
            outputs[name] = stream.read()
            stream.close()

        def write(stream):
            with stream:
                stream.write(input or "")

        threads = [threading.Thread(target=read, args=(name, stream))
                   for name, stream in (("stdout", self.stdout),
                                        ("stderr", self.stderr)) if stream]
        if self.stdin:
            threads.append(threading.Thread(target=write, args=(self.stdin,)))
        for thread in threads:
            thread.start()
        try:
            self.wait(timeout)
        finally:
            for thread in threads:
                thread.join()
        return outputs.get("stdout"), outputs.get("stderr")


class _CommandServer:
    """The client of tests/command_server.py: one server per pytest worker."""

    def __init__(self):
        self._socket, theirs = socket.socketpair(socket.AF_UNIX,
                                                 socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env=_SERVER_ENVIRONMENT)
        theirs.close()
        self._lock = threading.Lock()

    def start(self, argv, cwd, env, fds):
        """Forks `python ARGV` in cwd on the child's stdin, stdout and stderr
        fds (closed here once sent); returns its pid."""
        request = {"start": dict(argv=argv, cwd=cwd, env=env)}
        with self._lock:
            socket.send_fds(self._socket, [pickle.dumps(request)], fds)
            for fd in fds:
                os.close(fd)
            return pickle.loads(self._socket.recv(1 << 16))

    def wait(self, pid, timeout):
        """pid's returncode once it ends, and whether `timeout` seconds
        passed first (then pid was killed, and the code is SIGKILL's)."""
        with self._lock:
            self._socket.send(pickle.dumps({"wait": pid}))
            ready, _, _ = select.select([self._socket], [], [], timeout)
            if not ready:
                os.kill(pid, signal.SIGKILL)
            returncode = pickle.loads(self._socket.recv(1 << 16))
        return returncode, not ready


@functools.lru_cache(maxsize=None)
def _command_server():
    """Started at the worker's first command; it ends with the worker (its
    socket closes)."""
    return _CommandServer()


if __name__ == "__main__":
    # Imported before any fork: the cost every command would pay again.
    for preloaded in ("tensorflow", "keras"):
        importlib.import_module(preloaded)
    serve(socket.socket(fileno=int(sys.argv[1])))
