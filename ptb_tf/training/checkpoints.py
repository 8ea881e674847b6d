"""What a training checkpoint holds, and the latest and best ones on disk.

A checkpoint holds everything needed to continue a run as if it had never
stopped: the weights, the optimizer, where the run stands (epoch, batch within
the epoch, the loss summed so far in the epoch, the carried recurrent state),
the learning-rate factor that --on_nan=restore lowers, the random-number state
of every dropout layer, the best validation perplexity and the per-epoch
history. It also records the identity of the run (config, vocabulary and data
hashes), so a checkpoint is never silently resumed or exported with another.

    save_path/ckpt-N.*        the latest few (TensorFlow's CheckpointManager)
    save_path/best/ckpt-N.*   the one with the best validation perplexity

TensorFlow writes a checkpoint under a temporary name and then updates the
`checkpoint` index file atomically, so a crash during a save leaves the
previous checkpoint as the latest.
"""

import atexit
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from ptb_tf import cluster, run_dir
from ptb_tf.errors import UserError, reason
from ptb_tf.files import atomic_write_text
from ptb_tf.options import BEST
from ptb_tf.training.trainer import Progress


# Columns of the per-epoch history kept in the checkpoint.
HISTORY_COLUMNS = ("learning_rate", "train_perplexity", "valid_perplexity",
                   "train_words_per_second", "epoch_seconds")


class RunState(tf.Module):
    """The position of a training run, as variables a checkpoint saves.

    state: float32 [num_layers, state_parts, batch_size, hidden_size], the recurrent
    state carried into batch `batches_done` of the unfinished epoch.
    """

    def __init__(self, model, max_epochs: int, batch_size: int,
                 run_identity: Dict[str, Any]):
        super().__init__(name="run")
        self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.batches_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        # float64: summed per batch, as the Python loop sums it.
        self.epoch_cost = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.state = tf.Variable(model.zero_state(batch_size), trainable=False)
        self.learning_rate_factor = tf.Variable(1.0, dtype=tf.float64,
                                                trainable=False)
        self.best_valid = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
        self.history = tf.Variable(
            np.zeros([max_epochs, len(HISTORY_COLUMNS)]), trainable=False)
        self.wall_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.identity = tf.Variable(json.dumps(run_identity, sort_keys=True),
                                    trainable=False)
        # Keras keeps the dropout layers' random state in variables that a
        # tf.train.Checkpoint of the model does not reach.
        self.rng = [variable for variable in model.non_trainable_variables
                    if "seed_generator_state" in variable.path]

    def progress(self) -> Progress:
        """Where the unfinished epoch stands (batch 0 at an epoch's start)."""
        return Progress(int(self.batches_done), float(self.epoch_cost),
                        tf.convert_to_tensor(self.state))

    def record(self, progress: Progress) -> None:
        """Makes `progress` the position the next checkpoint saves."""
        self.batches_done.assign(progress.done)
        self.epoch_cost.assign(progress.cost)
        self.state.assign(progress.state)


def saved_identity(checkpoint_path: str) -> Optional[Dict[str, Any]]:
    """The identity recorded in a checkpoint, or None for one written before
    ptb_tf recorded identities (its folder's config.json and vocab.txt,
    which ptb_tf.run_dir checks, are then all there is)."""
    try:
        value = tf.train.load_variable(
            checkpoint_path, "run/identity/.ATTRIBUTES/VARIABLE_VALUE")
    except tf.errors.NotFoundError:
        return None
    return json.loads(value.decode("utf-8") if isinstance(value, bytes)
                      else value)


def check_identity(checkpoint_path: str, current: Dict[str, Any],
                   doing: str) -> None:
    """Raises UserError if the checkpoint was made with another config,
    vocabulary or data than `current`; `doing` is e.g. "resume"."""
    saved = saved_identity(checkpoint_path)
    found = run_dir.differences(saved, current) if saved else []
    if found:
        raise UserError(
            f"cannot {doing}: checkpoint {checkpoint_path} was made with "
            f"another {' and another '.join(found)}; use the same flags and "
            "data, or a new --save_path")


def weights_are_finite(model) -> bool:
    return all(bool(tf.reduce_all(tf.math.is_finite(variable)))
               for variable in model.trainable_variables)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def numbered(folder: str) -> List[str]:
    """The ckpt-N checkpoints whose files are in folder, newest first (what
    the `checkpoint` index file would list, read from the files)."""
    found = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            match = re.fullmatch(r"ckpt-(\d+)\.index", name)
            if match:
                found.append((int(match.group(1)), os.path.join(folder, name[:-6])))
    return [path for _, path in sorted(found, reverse=True)]


def newest_first(folder: str) -> List[str]:
    """The checkpoints of folder, newest first: those its `checkpoint` index
    lists, or, with the index lost, those its ckpt-N files are."""
    state = tf.train.get_checkpoint_state(folder)
    if state and state.all_model_checkpoint_paths:
        return [os.path.join(folder, os.path.basename(path)) for path in
                reversed(state.all_model_checkpoint_paths)]
    return numbered(folder)


def candidates(save_path: str, which: str = BEST) -> List[str]:
    """The checkpoints to export or score, in the order to try them: the
    best one if kept (which="best"), then the latest ones, newest first."""
    paths = newest_first(os.path.join(save_path, BEST)) if which == BEST else []
    return paths + newest_first(save_path)


def restore_first_intact(checkpoint: tf.train.Checkpoint, paths: List[str],
                         current: Dict[str, Any], doing: str,
                         log: Callable[[str], None] = _stderr,
                         partial: bool = False) -> str:
    """Restores the first of `paths` that can be read; returns it.

    A checkpoint whose files are damaged (truncated, zeroed, missing: what a
    power cut can leave) is skipped, and `log` says which and why; one made
    for another run is refused (UserError), as is a folder where none can be
    read. partial: the checkpoint may hold more than `checkpoint` tracks (a
    model alone out of a training checkpoint).
    """
    skipped = []
    for path in paths:
        try:
            check_identity(path, current, doing)
            status = checkpoint.restore(path)
            if partial:
                status.expect_partial()
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError, ValueError) as error:
            skipped.append(os.path.basename(path))
            log(f"Skipped {path}: it cannot be read ({reason(error)}); "
                "trying the one before it")
            continue
        return path
    raise UserError(
        f"cannot {doing}: no checkpoint there can be read"
        + (f" ({', '.join(skipped)} are damaged)" if skipped else "")
        + "; train again with a new --save_path")


def worker_folder(save_path: str) -> str:
    """The temporary folder where a non-chief worker writes its copy of the
    checkpoints of save_path: named by the run and the task, so that the same
    worker started again finds (and removes) what a SIGKILL left behind."""
    task = cluster.task()
    run = hashlib.sha256(os.path.abspath(save_path).encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"ptb_tf-worker-{run}-"
                        f"{task.get('type', 'worker')}{task.get('index', 0)}")


class Saver:
    """The latest checkpoints of a run in save_path, and its best one in best/.

    writes=False: another worker of a multi-worker cluster than the chief.
    Every worker takes part in each save (TensorFlow's multi-worker guide);
    this one writes its copy into a temporary folder of its own and deletes
    it, and it restores from the chief's checkpoints in save_path.
    """

    def __init__(self, model, optimizer, run: RunState, save_path: str,
                 log: Callable[[str], None] = _stderr, writes: bool = True):
        self.save_path = save_path
        self.run = run
        self.model = model
        self.log = log
        self.writes = writes
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                              run=run)
        if writes:
            self._rebuild_a_lost_index()
            self.write_path = save_path
        else:
            self.write_path = worker_folder(save_path)
            # A copy left by this same worker when it was SIGKILLed.
            shutil.rmtree(self.write_path, ignore_errors=True)
            atexit.register(shutil.rmtree, self.write_path, True)
        self.latest = tf.train.CheckpointManager(self.checkpoint,
                                                 self.write_path, max_to_keep=3)
        self.best = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(self.write_path, BEST), max_to_keep=1)

    def _rebuild_a_lost_index(self) -> None:
        """Writes the `checkpoint` index file again from the ckpt-N files if
        it was lost (else the run would silently start over beside them)."""
        for folder in (self.save_path, os.path.join(self.save_path, BEST)):
            paths = numbered(folder)
            if paths and not tf.train.get_checkpoint_state(folder):
                names = [os.path.basename(path) for path in reversed(paths)]
                times = [os.path.getmtime(path + ".index")
                         for path in reversed(paths)]
                # The index's text format, oldest first; the manager keeps
                # (and later sweeps) those newer than last_preserved.
                atomic_write_text(os.path.join(folder, "checkpoint"), "".join(
                    [f'model_checkpoint_path: "{names[-1]}"\n']
                    + [f'all_model_checkpoint_paths: "{name}"\n'
                       for name in names]
                    + [f"all_model_checkpoint_timestamps: {time!r}\n"
                       for time in times]
                    + [f"last_preserved_timestamp: {min(times) - 1!r}\n"]))
                self.log(f"Rebuilt the lost checkpoint index of {folder} "
                         f"from {', '.join(names)}")

    @property
    def latest_path(self) -> Optional[str]:
        """The newest checkpoint in save_path (the chief's), or None."""
        paths = newest_first(self.save_path)
        return paths[0] if paths else None

    def restore_latest(self, run_identity: Dict[str, Any]) -> str:
        """Restores the newest intact checkpoint of save_path after checking
        its identity (see restore_first_intact); returns its path."""
        return restore_first_intact(self.checkpoint,
                                    newest_first(self.save_path),
                                    run_identity, "resume", self.log)

    def save(self, best: bool = False) -> str:
        """Writes a checkpoint (also as the best one if `best`); returns its name.

        Raises UserError, keeping the previous checkpoints, if the weights are
        not finite or the checkpoint cannot be written (a full disk, say).
        """
        if not weights_are_finite(self.model):
            raise UserError("the weights are not finite: no checkpoint "
                            "written; the last good one is kept")
        try:
            path = self.latest.save()
            if best:
                self.best.save()
            if not self.writes:
                shutil.rmtree(self.write_path)
        except (tf.errors.OpError, OSError) as error:
            self._remove_partial_files()
            kept = self.latest.latest_checkpoint
            raise UserError(
                f"cannot write a checkpoint in {self.save_path}: "
                f"{reason(error)}; "
                "free space or choose another --save_path ("
                + (f"the last good checkpoint, {os.path.basename(kept)}, is "
                   "kept: run the same command to resume from it)" if kept
                   else "no checkpoint had been written yet)")) from None
        return os.path.basename(path)

    def _remove_partial_files(self) -> None:
        """Deletes what a failed save left of its checkpoint (a full disk
        would stay full): files of that number the index does not list."""
        number = int(self.checkpoint.save_counter)
        for manager, folder in ((self.latest, self.write_path),
                                (self.best, os.path.join(self.write_path, BEST))):
            listed = {os.path.basename(path) for path in manager.checkpoints}
            if f"ckpt-{number}" in listed or not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                if re.fullmatch(rf"ckpt-{number}(\..*|_temp.*)", name):
                    path = os.path.join(folder, name)
                    if os.path.isdir(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.remove(path)
