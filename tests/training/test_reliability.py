"""Nothing lost, nothing silent: kill -9 and resume, NaN guard, safe writes."""

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import (REPO_ROOT, TINY_FLAGS, assert_user_error,
                           kill_after, nth_line_in_epoch, poison_step,
                           run_module, run_until, start_module, tiny_config,
                           train_tiny, write_corpus)

from ptb_tf import files
from ptb_tf import run_dir
from ptb_tf.corpus.splits import load_corpus
from ptb_tf.errors import UserError
from ptb_tf.training import checkpoints


def random_text(words: int, seed: int) -> str:
    """Sentences of a 30-word vocabulary, in PTB's format."""
    rng = random.Random(seed)
    vocab = [f"w{index}" for index in range(30)]
    lines, count = [], 0
    while count < words:
        length = rng.randint(3, 12)
        lines.append(" " + " ".join(rng.choice(vocab) for _ in range(length))
                     + " \n")
        count += length + 1
    return "".join(lines)


def kill_corpus(folder):
    """A corpus for KILL_FLAGS: 400 batches an epoch, a progress line and a
    checkpoint every 40, so a kill after a progress line lands mid-epoch."""
    return write_corpus(folder, train=random_text(8000, 0),
                        valid=random_text(1000, 1), test=random_text(1000, 2))


KILL_FLAGS = ["--model=test", "--vocab_size=0", "--batch_size=4",
              "--num_steps=5", "--hidden_size=8", "--num_layers=2",
              "--keep_prob=0.5", "--max_epoch=1", "--max_max_epoch=3",
              "--checkpoint_every=40", "--deterministic", "--seed=3",
              "--rnn_mode=unrolled"]  # no XLA to compile (TINY_FLAGS)


@pytest.mark.slow
def test_sigkill_twice_mid_epoch_then_resume_gives_the_uninterrupted_results(
        tmp_path):
    data = kill_corpus(tmp_path / "data")
    flags = [f"--data_path={data}", *KILL_FLAGS]
    straight = run_module("train", *flags, f"--save_path={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-2000:]

    save_path = f"--save_path={tmp_path / 'killed'}"
    kill_after(start_module("train", *flags, save_path), nth_line_in_epoch(1, 3, " perplexity: "))
    second = kill_after(start_module("train", *flags, save_path),
                        nth_line_in_epoch(2, 6, " perplexity: "))
    # The second run resumed inside epoch 1, from a checkpoint mid-epoch.
    assert second[0].startswith("Resuming from") and "epoch 1, batch" in second[0]
    assert not second[0].endswith("batch 0")
    final = run_module("train", *flags, save_path)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "Resuming from" in final.stdout.splitlines()[0]
    assert "epoch 2, batch" in final.stdout.splitlines()[0]

    expected = json.load(open(tmp_path / "straight" / "results.json"))
    resumed = json.load(open(tmp_path / "killed" / "results.json"))
    for key in ("train_perplexity", "valid_perplexity"):
        # Bit for bit: the same float64 values.
        assert ([epoch[key] for epoch in resumed["epochs"]]
                == [epoch[key] for epoch in expected["epochs"]]), key
    assert resumed["test_perplexity"] == expected["test_perplexity"]


def all_checkpoints_finite(save_path):
    paths = [os.path.join(folder, name[:-len(".index")])
             for folder in (save_path, os.path.join(save_path, "best"))
             if os.path.isdir(folder)
             for name in os.listdir(folder) if name.endswith(".index")]
    assert paths
    for path in paths:
        for name, _ in tf.train.list_variables(path):
            if name.startswith("model/"):
                assert np.all(np.isfinite(tf.train.load_variable(path, name))), (
                    path, name)


def test_a_nan_loss_stops_with_epoch_and_batch_and_saves_nothing_bad(
        corpus, tmp_path, monkeypatch):
    poison_step(monkeypatch, 12)
    save_path = str(tmp_path / "run")
    lines = []
    with pytest.raises(UserError, match=r"training diverged: .* at epoch 2, "
                                        r"batch \d+ of \d+; .*--on_nan=restore"):
        # The optimizer's step 12 is in epoch 2 (9 batches an epoch).
        train_tiny(tiny_config(corpus), corpus, save_path=save_path,
                   log=lines.append, checkpoint_every=1)
    assert any(line.startswith("Epoch: 1 Valid") for line in lines)
    all_checkpoints_finite(save_path)


@pytest.mark.slow
def test_a_huge_learning_rate_stops_training_from_the_command_line(
        tiny_corpus_path, tmp_path):
    save_path = tmp_path / "run"
    result = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                        "--learning_rate=1e38", "--max_grad_norm=1e30",
                       "--checkpoint_every=1", f"--save_path={save_path}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training diverged:") and "epoch 1" in last
    all_checkpoints_finite(str(save_path))


def test_on_nan_restore_goes_back_to_the_last_checkpoint_and_halves_the_rate(
        corpus, tmp_path, monkeypatch):
    poison_step(monkeypatch, 12)
    lines = []
    results = train_tiny(
        tiny_config(corpus, max_max_epoch=3), corpus,
        save_path=str(tmp_path / "run"), log=lines.append, on_nan="restore",
        checkpoint_every=4)
    restored = [line for line in lines if line.startswith("Non-finite loss")]
    assert len(restored) == 1
    assert "at epoch 2" in restored[0] and "halved the learning rate" in restored[0]
    # Epoch 1 at the full rate; from the restore on, half the schedule's.
    assert [epoch["learning_rate"] for epoch in results["epochs"]] == [
        1.0, 0.25, 0.125]
    assert np.isfinite(results["test_perplexity"])


def test_checkpoint_identity_refuses_another_config_vocab_or_data(
        corpus, tmp_path):
    """The checkpoints' own identity, behind the run folder's files: a
    checkpoint is never resumed or loaded with another config, vocabulary or
    data, whatever the folder's files say."""
    save_path = str(tmp_path / "run")
    config = tiny_config(corpus, max_max_epoch=1)
    train_tiny(config, corpus, save_path=save_path, log=lambda _: None)
    newest = checkpoints.newest_first(save_path)[0]
    with pytest.raises(UserError, match=r"cannot resume: .* another config "
                                        r"\(max_max_epoch 1 -> 2\)"):
        checkpoints.check_identity(newest, run_dir.identity_of(
            dataclasses.replace(config, max_max_epoch=2), corpus.vocab,
            corpus), "resume")
    other_data = load_corpus(write_corpus(
        tmp_path / "other", test=" the cat sat \n"))
    with pytest.raises(UserError, match=r"another data \(test split\)"):
        checkpoints.check_identity(newest, run_dir.identity_of(
            config, other_data.vocab, other_data), "resume")
    from ptb_tf.training.models import load_model  # pylint: disable=g-import-not-at-top
    (tmp_path / "run" / "vocab.txt").write_text("<unk>\nthe\n")
    with pytest.raises(UserError, match="cannot load the model: .* another "
                                        "vocabulary"):
        load_model(save_path)


@pytest.mark.slow
def test_save_path_trained_on_other_data_is_refused_before_tensorflow(
        tiny_corpus_path, tmp_path):
    save_path = f"--save_path={tmp_path / 'run'}"
    first = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS, save_path)
    assert first.returncode == 0, first.stderr
    changed = write_corpus(tmp_path / "changed", valid=" the dog sat \n" * 10)
    result = run_module("train", f"--data_path={changed}", *TINY_FLAGS, save_path,
                        fresh=True)
    assert_user_error(result, "holds a model trained on other data (valid split)")


@pytest.mark.slow
def test_best_checkpoint_is_kept_apart_and_exported_by_default(corpus, tmp_path):
    save_path = str(tmp_path / "run")
    results = train_tiny(tiny_config(corpus, max_max_epoch=3), corpus,
                         save_path=save_path, log=lambda _: None)
    best_epoch = results["best_epoch"]
    best = checkpoints.candidates(save_path, "best")[0]
    assert os.path.dirname(best) == os.path.join(save_path, "best")
    epochs_done = tf.train.load_variable(
        best, "run/epochs_done/.ATTRIBUTES/VARIABLE_VALUE")
    assert epochs_done == best_epoch
    assert results["best_valid_perplexity"] == min(
        epoch["valid_perplexity"] for epoch in results["epochs"])


def test_a_crash_between_write_and_rename_keeps_the_old_file(tmp_path,
                                                             monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("old")

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        files.atomic_write_text(str(path), "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary left


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_keeps_the_last_good_one(
        corpus, tmp_path, monkeypatch):
    save_path = str(tmp_path / "run")
    config = tiny_config(corpus)

    run_until(config, corpus, save_path,
              lambda line: line.startswith("Epoch: 2 Learning rate"))
    latest = tf.train.latest_checkpoint(save_path)

    def full_disk(self, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None,
                                               "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    with pytest.raises(UserError, match=(
            r"cannot write a checkpoint in .*: No space left on device; .* "
            rf"{os.path.basename(latest)}, is kept")):
        train_tiny(config, corpus, save_path=save_path,
                   log=lambda _: None)
    monkeypatch.undo()
    assert tf.train.latest_checkpoint(save_path) == latest
    # ... and the run goes on from it once there is room again.
    results = train_tiny(config, corpus, save_path=save_path,
                         log=lambda _: None)
    assert len(results["epochs"]) == 2


@pytest.mark.parametrize("flag, fragment", [
    ("--checkpoint_every=-1", "--checkpoint_every must be >= 0"),
    ("--on_nan=ignore", "--on_nan must be one of stop, restore"),
    ("--on_nan=restore", "--on_nan=restore needs --save_path"),
])
def test_bad_reliability_flags_exit_2(tiny_corpus_path, flag, fragment):
    result = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS, flag, fresh=True)
    assert_user_error(result, fragment)
    assert result.returncode == 2


def test_save_dir_identity_file_is_written_once(corpus, tmp_path):
    save_path = str(tmp_path / "run")
    config = tiny_config(corpus)
    run_dir.prepare(save_path, config, corpus)
    identity = json.load(open(os.path.join(save_path, "identity.json")))
    assert identity["config"] == config.to_dict()
    assert set(identity["data_sha256"]) == {"train", "valid", "test"}


@pytest.mark.slow
def test_soak_reports_memory_per_epoch(tmp_path):
    data = write_corpus(tmp_path / "data", train=random_text(4000, 0),
                        valid=random_text(1000, 1), test=random_text(500, 2))
    output = tmp_path / "soak.json"
    result = run_module("soak", f"--data_path={data}", "--epochs=3",
                        f"--results_file={output}")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.load(open(output))
    assert [row["epoch"] for row in report["epochs"]] == [1, 2, 3]
    assert all(row["peak_mb"] >= row["resident_mb"] > 0
               for row in report["epochs"])
    assert report["passed"] == (report["peak_growth_after_epoch_2"] <= 0.05)
    assert "steady" in result.stdout or "GROWING" in result.stdout


@pytest.mark.slow
def test_one_training_per_folder_and_a_killed_holder_is_taken_over(tmp_path):
    data = kill_corpus(tmp_path / "data")
    flags = [f"--data_path={data}", *KILL_FLAGS,
             f"--save_path={tmp_path / 'run'}"]
    first = start_module("train", *flags)
    lines = []
    for line in first.stdout:  # until it trains: it holds the lock by then
        lines.append(line)
        if " perplexity: " in line:
            break
    second = run_module("train", *flags, fresh=True)
    assert_user_error(second, "is in use by another training (pid "
                      f"{first.pid} on ")
    assert "Traceback" not in second.stderr
    first.send_signal(signal.SIGKILL)
    first.wait()
    resumed = run_module("train", *flags)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (f"Taking over the lock of {tmp_path / 'run'}: its last holder "
            f"(pid {first.pid} on ") in resumed.stderr
    assert resumed.stdout.startswith("Resuming from")
    # A clean end leaves the lock free and its details cleared.
    assert (tmp_path / "run" / ".ptb_tf.lock").read_text() == ""


def test_the_lock_is_held_once_per_process_and_released(tmp_path):
    from ptb_tf import run_lock  # pylint: disable=import-outside-toplevel
    folder = str(tmp_path)
    run_lock.acquire(folder)
    run_lock.acquire(folder)  # the same process again: no-op
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from ptb_tf import run_lock; "
         f"run_lock.acquire({folder!r})"], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=60)
    assert other.returncode == 1 and "is in use by another training" in \
        other.stderr
    run_lock.release(folder)
    again = subprocess.run(
        [sys.executable, "-c", "from ptb_tf import run_lock; "
         f"run_lock.acquire({folder!r}); print('held')"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == "held" and "Taking over" not in again.stderr
