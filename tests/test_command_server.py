"""The command server (tests/command_server.py): a forked command is what a
new python would be to the tests that run it."""

import json
import os
import signal
import subprocess

import pytest

from tests.command_server import ForkedProcess
from tests.helpers import REPO_ROOT, run_python

REPORT = """
import json, os, sys, tempfile
print(json.dumps([os.getpid(), os.getcwd(), tempfile.gettempdir(), sys.argv,
                  sys.path[0], sys.stdin.read(), os.environ.get("PTB_TF_X")]))
print("to stderr", file=sys.stderr)
sys.exit(3)
"""


def test_a_forked_command_has_its_own_process_folder_streams_and_exit_code(
        tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path), PTB_TF_X="set")
    result = run_python("-c", REPORT, "one arg", stdin="line\n", env=env)
    assert not result.fresh
    assert result.returncode == 3
    assert result.stderr == "to stderr\n"
    pid, cwd, temp, argv, path0, stdin, variable = json.loads(result.stdout)
    assert pid != os.getpid()
    assert cwd == REPO_ROOT and path0 == ""  # python -c puts cwd first as ""
    assert temp == str(tmp_path)  # TMPDIR read again, not the server's
    assert argv == ["-c", "one arg"] and stdin == "line\n" and variable == "set"


def test_a_signal_ends_it_as_it_ends_a_subprocess():
    process = ForkedProcess(
        ["-c", "import time; print('up', flush=True); time.sleep(120)"],
        REPO_ROOT, dict(os.environ), stderr=subprocess.DEVNULL)
    assert process.stdout.readline() == "up\n"
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    process.stdout.close()


def test_a_variable_read_at_import_gets_a_new_python():
    changed = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=(
        "2" if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "2" else "1"))
    assert run_python("-c", "pass", env=changed).fresh
    # TF_CONFIG is read when a strategy looks for its cluster, after import.
    assert not run_python("-c", "pass",
                          env=dict(os.environ, TF_CONFIG="{}")).fresh


def test_a_command_past_its_timeout_is_killed_and_the_server_goes_on():
    with pytest.raises(subprocess.TimeoutExpired):
        run_python("-c", "import time; time.sleep(120)", timeout=1)
    process = ForkedProcess(["-c", "import time; time.sleep(120)"], REPO_ROOT,
                            dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=1)
    process.kill()  # already ended: nothing is signalled
    assert process.wait() == -signal.SIGKILL
    assert run_python("-c", "print('next')").stdout == "next\n"
