"""What the tests share beside fixtures: tiny corpora and configs, one way to
run a command, one check of a user error, and the numerical comparisons.

Nothing here imports TensorFlow at import time: the tests of the commands'
checks run without it.
"""

import dataclasses
import errno
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from tests.command_server import ForkedProcess, changes_tensorflow_import


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_benchmark(name):
    """benchmarks/NAME.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(REPO_ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A tiny corpus in PTB's format: a space at each line's start and end.
TINY_TRAIN = (" the cat sat on the mat \n the dog sat on the log \n"
              " a cat saw a dog \n the mat was on the log \n") * 8
TINY_VALID = " the cat sat on the log \n a dog saw the mat \n" * 4
TINY_TEST = " the dog sat on the mat \n a cat saw the log \n zebra \n" * 3

# Train flags for a model small enough that a run on the tiny corpus takes
# seconds. unrolled without XLA: the default, auto, compiles with XLA on a
# CPU, which costs a tiny run more than it saves (the README's quick start
# runs the default).
TINY_FLAGS = ["--model=test", "--vocab_size=0", "--batch_size=4",
              "--num_steps=3", "--hidden_size=4", "--max_max_epoch=2",
              "--rnn_mode=unrolled"]


def write_corpus(folder, train=TINY_TRAIN, valid=TINY_VALID, test=TINY_TEST):
    """Writes ptb.{train,valid,test}.txt (str or bytes; None: no file) into
    `folder`; returns its path."""
    os.makedirs(folder, exist_ok=True)
    for split, content in (("train", train), ("valid", valid), ("test", test)):
        if content is None:
            continue
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(os.path.join(folder, f"ptb.{split}.txt"), mode) as data_file:
            data_file.write(content)
    return str(folder)


GOLDEN_RUN = os.path.join(REPO_ROOT, "tests", "golden", "tiny_run")


def copy_golden_run(folder):
    """A copy of the committed golden run at folder/run (tests never write
    into the committed one); returns its path."""
    run = os.path.join(folder, "run")
    # WRITTEN_BY (which commit wrote it) is the test data's note, not the run's.
    shutil.copytree(GOLDEN_RUN, run, ignore=shutil.ignore_patterns("WRITTEN_BY"))
    return run


def golden_flags():
    """Train flags of the golden run's own hyper-parameters: a command with
    them passes the config check of a copy of it."""
    with open(os.path.join(GOLDEN_RUN, "config.json"), encoding="utf-8") as file:
        return [f"--{name}={str(value).lower() if isinstance(value, bool) else value}"
                for name, value in json.load(file).items()]


def tiny_config(corpus, **changes):
    """A 2-layer, 8-unit model for the tiny corpus; changes override it."""
    from ptb_tf.config import Config  # pylint: disable=import-outside-toplevel
    return dataclasses.replace(
        Config(init_scale=0.1, learning_rate=1.0, max_grad_norm=5.0,
               num_layers=2, num_steps=5, hidden_size=8, max_epoch=1,
               max_max_epoch=2, keep_prob=1.0, lr_decay=0.5, batch_size=4,
               vocab_size=len(corpus.vocab)), **changes)


# -- Commands in a subprocess -------------------------------------------------

def run_module(module, *args, **kwargs):
    """`python -m ptb_tf.MODULE ARGS` from the repository (run_python)."""
    return run_python("-m", f"ptb_tf.{module}", *args, **kwargs)


def start_python(*argv, env=None, fresh=False, stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    """`python ARGV` (`-m MODULE ARGS`, `-c CODE ARGS` or `SCRIPT ARGS`)
    from the repository, started, with text pipes where asked for.

    The command runs in a child forked by this worker's command server
    (tests/command_server.py), which imported TensorFlow once (a
    ForkedProcess), unless `fresh` or `env` changes what TensorFlow reads at
    import: then in a new Python (a subprocess.Popen). Its `fresh` says
    which."""
    env = dict(os.environ if env is None else env)
    if fresh or changes_tensorflow_import(env):
        process = subprocess.Popen(
            [sys.executable, *argv], cwd=REPO_ROOT, env=env, stdin=stdin,
            stdout=stdout, stderr=stderr, text=True)
        process.fresh = True
    else:
        process = ForkedProcess(argv, REPO_ROOT, env, stdin=stdin,
                                stdout=stdout, stderr=stderr)
        process.fresh = False
    return process


def run_python(*argv, stdin=None, timeout=300, env=None, fresh=False):
    """start_python, run to its end; what subprocess.run(capture_output=True,
    text=True) returns, and `fresh`."""
    process = start_python(*argv, env=env, fresh=fresh,
                           stdin=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(stdin or "", timeout=timeout)
    except subprocess.TimeoutExpired:
        # As subprocess.run does: no command outlives its timeout.
        process.kill()
        process.wait()
        raise
    result = subprocess.CompletedProcess(process.args, process.returncode,
                                         stdout, stderr)
    result.fresh = process.fresh
    return result


def start_module(module, *args, env=None, stderr=subprocess.DEVNULL):
    """`python -m ptb_tf.MODULE ARGS`, started (start_python): its stdout a
    pipe of text lines, stderr dropped unless a pipe is asked for."""
    return start_python("-m", f"ptb_tf.{module}", *args, env=env,
                        stderr=stderr)


def kill_after(process, stop_at):
    """Reads the process's lines; SIGKILLs it right after one matches
    stop_at(line). Returns the lines read."""
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if stop_at(lines[-1]):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return lines
    process.wait()
    pytest.fail("the run ended before the kill point:\n" + "\n".join(lines))


def output_lines(result):
    """The stdout lines of a command that must have succeeded."""
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def assert_user_error(result, *fragments, only_line=True):
    """Non-zero exit, no traceback, and a line `error: ...` holding every
    fragment: the only stderr line (an error found before TensorFlow starts),
    or with only_line=False the last one (after its start-up lines)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    if only_line:
        # "The only line" means TensorFlow did not start: only a new Python
        # would print its start-up lines, not the command server's child.
        assert getattr(result, "fresh", True), \
            "check an error found before TensorFlow starts with run_module(..., fresh=True)"
        assert len(lines) == 1, result.stderr
    assert lines[-1].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[-1], result.stderr


def assert_last_line_error(result, *fragments):
    """assert_user_error for an error found after TensorFlow started (its
    start-up lines come first)."""
    assert_user_error(result, *fragments, only_line=False)


# -- A real full disk ---------------------------------------------------------

PAGE = 4096  # tmpfs counts its size in pages


def mount_small_disk(folder, size_kib=1024):
    """Mounts a tmpfs of size_kib at folder (created); returns the function
    that unmounts it. Skips the test where mounting is not permitted (not
    root, or a container without the capability): the same cases run with
    the error injected in tests/training/test_full_disk.py."""
    os.makedirs(folder, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", folder],
        capture_output=True, text=True, check=False) if os.geteuid() == 0 else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip("a real full disk needs `mount -t tmpfs` (root): "
                    + (mounted.stderr.strip() if mounted else "not root"))
    return lambda: subprocess.run(["umount", folder], check=True)


def fill_disk(folder, free_pages=0):
    """Fills the disk of folder with a file `filler`, then frees free_pages
    pages of it."""
    path = os.path.join(folder, "filler")
    with open(path, "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * PAGE)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    os.truncate(path, max(0, os.path.getsize(path) - free_pages * PAGE))


# -- Runs in this process -----------------------------------------------------

class Stop(Exception):
    """Raised from a log callback to stop a run where a crash would."""


def train_tiny(config, corpus, **options):
    """train_and_evaluate for the tiny configs, on the unrolled path without
    XLA unless options say otherwise: the default, auto, compiles with XLA
    on a CPU, which doubled a tiny run's CPU time (measured: 6.6 against
    3.4 s)."""
    from ptb_tf.training import train_and_evaluate  # pylint: disable=import-outside-toplevel
    options.setdefault("rnn_mode", "unrolled")
    return train_and_evaluate(config, corpus, **options)


def run_until(config, corpus, save_path, stop_at, **options):
    """Trains until a log line matches stop_at(line), as a crash would stop it."""

    def log(line):
        if stop_at(line):
            raise Stop()

    with pytest.raises(Stop):
        train_tiny(config, corpus, save_path=save_path, log=log, **options)


def nth_line_in_epoch(epoch, n, marker):
    """A stop_at: the n-th line of the given epoch that contains marker."""
    seen = {"epoch": 0, "count": 0}

    def stop_at(line):
        if line.startswith("Epoch: "):
            seen["epoch"] = int(line.split()[1])
        elif marker in line and seen["epoch"] == epoch:
            seen["count"] += 1
            return seen["count"] == n
        return False

    return stop_at


def poison_step(monkeypatch, step):
    """Makes the training loss of optimizer step `step` (0-based) NaN, once,
    in every Trainer built afterwards: what the NaN guard is tested on."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from ptb_tf.training.trainer import Trainer  # pylint: disable=import-outside-toplevel
    original = Trainer.training_cost
    fired = tf.Variable(False, trainable=False)

    def training_cost(self, inputs, targets, state):
        cost, new_state = original(self, inputs, targets, state)
        hit = tf.logical_and(self.optimizer.iterations == step,
                             tf.logical_not(fired))
        fired.assign(tf.logical_or(fired, hit))
        return tf.where(hit, tf.constant(np.nan, tf.float32), cost), new_state

    monkeypatch.setattr(Trainer, "training_cost", training_cost)


def train_one_step(trainer, inputs, targets, state):
    """One training step through the compiled chunk loop: the cost, the new
    state and the global gradient norm before clipping.

    inputs, targets: int32 [batch, num_steps]."""
    _, cost, state, _, norm = trainer.train_steps(
        inputs[None], targets[None], 1, state)
    return cost, state, norm


def first_batch(corpus, config):
    """(inputs, targets) of the first training batch."""
    from ptb_tf.corpus.datasets import window_dataset  # pylint: disable=import-outside-toplevel
    return next(iter(window_dataset(corpus.train, config.batch_size,
                                    config.num_steps)))


def update_norm(variables, before):
    """Global norm of what the last step changed."""
    return np.sqrt(sum(((variable.numpy() - old) ** 2).sum()
                       for variable, old in zip(variables, before)))


def assert_paths_agree(net, reference, ids, tmp_path):
    """net restores reference's checkpoint, then computes what reference
    does (1e-5): logits and state from a random state, over a window of
    static and of unknown length, and the weight gradients. Returns the
    state used and reference's logits and new state."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    path = tf.train.Checkpoint(model=reference).save(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(model=net).restore(path).assert_consumed()
    state = tf.random.stateless_normal(reference.zero_state(ids.shape[0]).shape,
                                       seed=[1, 2])
    expected_logits, expected_state = reference(ids, state)
    logits, new_state = net(ids, state)
    np.testing.assert_allclose(logits, expected_logits, atol=1e-5)
    np.testing.assert_allclose(new_state, expected_state, atol=1e-5)
    # A window whose length is unknown when tracing (scan, or block's loop).
    dynamic = tf.function(lambda ids, state: net(ids, state)[0],
                          input_signature=[
                              tf.TensorSpec([ids.shape[0], None], tf.int32),
                              tf.TensorSpec(state.shape)])
    np.testing.assert_allclose(dynamic(ids, state), expected_logits, atol=1e-5)
    assert_same_gradients(net, reference, ids, state)
    return state, expected_logits, expected_state


def assert_same_gradients(net, reference, ids, state):
    """The two models' weight gradients of a loss over ids agree (1e-5)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    def gradients(model):
        with tf.GradientTape() as tape:
            logits, _ = model(ids, state)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=ids, logits=logits))
        return tape.gradient(loss, model.trainable_variables)

    for got, want in zip(gradients(net), gradients(reference)):
        np.testing.assert_allclose(tf.convert_to_tensor(got),
                                   tf.convert_to_tensor(want), atol=1e-5)

