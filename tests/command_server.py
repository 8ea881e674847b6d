"""A process that has imported TensorFlow once and forks one child per
command: `python -m ptb_tf.X ARGS` for the tests, without paying TensorFlow's
import (3.5-5 s on 2 cores, 12 s beside a training run) in every command.

helpers.run_module starts one per pytest worker and sends it requests. Each
child is a fresh process as far as a command can tell: its own pid, the
request's working folder, environment, stdin, stdout and stderr, the module
run as __main__ with sys.argv as `python -m` sets it, its exit code or signal
reported. What differs from `python -m`: TensorFlow and Keras were imported
before the command ran (with the server's environment; helpers.run_module
runs a real subprocess when a request changes a variable TensorFlow reads
at import), so TensorFlow's start-up lines are not in the child's stderr.

Protocol, over fds given on the command line: a request is a pickled dict
(argv, cwd, env, stdin, stdout, stderr: file paths), length-prefixed; the
server answers each with the child's pid, then its returncode.

Nothing here runs a TensorFlow op: the runtime's threads start in each child,
not before the fork.
"""

import atexit
import importlib
import io
import os
import pickle
import runpy
import struct
import sys
import traceback


def read_message(fd):
    """One length-prefixed pickle from fd, or None at end of file."""
    header = os.read(fd, 4)
    if not header:
        return None
    (size,) = struct.unpack("!I", header)
    data = b""
    while len(data) < size:
        data += os.read(fd, size - len(data))
    return pickle.loads(data)


def write_message(fd, message):
    data = pickle.dumps(message)
    os.write(fd, struct.pack("!I", len(data)) + data)


def run_child(request, server_fds):
    """In the forked child: becomes the command's process, runs it, exits."""
    for fd in server_fds:
        os.close(fd)
    for fd, path, mode in ((0, request["stdin"], os.O_RDONLY),
                           (1, request["stdout"], os.O_WRONLY),
                           (2, request["stderr"], os.O_WRONLY)):
        opened = os.open(path, mode)
        os.dup2(opened, fd)
        os.close(opened)
    # New stdio objects on the new fds (the server's may hold buffered data),
    # with Python's defaults for files.
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False),
                                  errors="backslashreplace", line_buffering=True)
    os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # as `python -m` sets it: the package from cwd
    os.environ.clear()
    os.environ.update(request["env"])
    module, *args = request["argv"]
    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
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


def serve(requests_fd, answers_fd):
    while True:
        request = read_message(requests_fd)
        if request is None:
            return
        pid = os.fork()
        if pid == 0:
            run_child(request, (requests_fd, answers_fd))
        write_message(answers_fd, pid)
        _, status = os.waitpid(pid, 0)
        write_message(answers_fd, os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    # Imported before any fork: the cost every command would pay again.
    # (Not at the top: helpers imports this module for its protocol.)
    for preloaded in ("tensorflow", "keras"):
        importlib.import_module(preloaded)
    serve(int(sys.argv[1]), int(sys.argv[2]))
