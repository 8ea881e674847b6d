"""One training per run folder: a lock held for as long as the training runs.

Two trainings writing one `--save_path` overwrite each other's checkpoints
and leave a folder neither can resume. `acquire` takes an exclusive
`flock` on `save_path/.ptb_tf.lock` and writes the holder (pid, host, start
time) into it; a second training is refused with one line that names the
holder. The kernel drops a flock when its process dies (SIGKILL included),
so a lock left by a dead training is taken over, and said so, by the next
start; the lock file itself stays, as ptb_tf's own file.

Pure Python, so that the refusal comes before TensorFlow starts.
"""

import atexit
import fcntl
import json
import os
import socket
import sys
import time

from ptb_tf.errors import UserError, reason


LOCK_FILE = ".ptb_tf.lock"

# save_path (real path) -> the open lock file of this process; held until
# the process exits. A second acquire from the same process is a no-op.
_HELD = {}


def _holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return (f"pid {holder['pid']} on {holder['host']}, started "
                f"{holder['started']}")
    except (ValueError, KeyError, TypeError):
        return "a process that left no details"


def acquire(save_path: str) -> None:
    """Takes save_path's lock for this process, or raises UserError naming
    the training that holds it."""
    key = os.path.realpath(save_path)
    if key in _HELD:
        return
    path = os.path.join(save_path, LOCK_FILE)
    existed = os.path.exists(path)
    try:
        lock_file = open(path, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
    except OSError as error:
        raise UserError(f"cannot create the lock file {path}: "
                        f"{error.strerror}; choose a writable --save_path") from None
    lock_file.seek(0)
    previous = lock_file.read()
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_file.close()
        raise UserError(f"--save_path={save_path} is in use by another "
                        f"training ({_holder(previous)}); wait for it to end, "
                        "or choose another --save_path") from None
    if previous.strip():
        # The last holder ended without clearing its details: it was killed.
        print(f"Taking over the lock of {save_path}: its last holder "
              f"({_holder(previous)}) is no longer running", file=sys.stderr)
    details = json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    try:
        # Unbuffered, so that a failed write leaves nothing for close().
        os.ftruncate(lock_file.fileno(), 0)
        os.pwrite(lock_file.fileno(), details.encode("utf-8"), 0)
    except OSError as error:  # a full disk: even these few bytes do not fit
        lock_file.close()
        if not existed:
            os.remove(path)
        raise UserError(f"cannot write into --save_path={save_path}: "
                        f"{reason(error)}; free space or choose another "
                        "--save_path") from None
    _HELD[key] = lock_file
    # A clean end (sys.exit included) clears the details; a killed process
    # leaves them, which is how the next start knows it was killed.
    atexit.register(release, save_path)


def release(save_path: str) -> None:
    """Clears this process's details and drops the lock (a clean end)."""
    lock_file = _HELD.pop(os.path.realpath(save_path), None)
    if lock_file is not None:
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.close()
