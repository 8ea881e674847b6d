"""Truncated-BPTT training and evaluation, checkpointed at every epoch.

Takes a Config and a Corpus, never flags, so tests and notebooks call it
directly with a tiny corpus.
"""

import functools
import json
import math
import os
import platform
import time
from typing import Any, Callable, Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from ptb_tf import config as config_lib
from ptb_tf.files import atomic_write_text
from ptb_tf.model import PTBModel
from ptb_tf.pipeline import chunk_dataset, sequential_windows
from ptb_tf.reader import Corpus, num_batches

Log = Callable[[str], None]

# Columns of the per-epoch history kept in the checkpoint.
HISTORY_COLUMNS = ("learning_rate", "train_perplexity", "valid_perplexity",
                   "train_words_per_second", "epoch_seconds")


def sequence_cost(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """The tutorial's cost: sum over time of the batch-mean negative log-likelihood.

    logits: float [batch, time, vocab]; targets: int32 [batch, time] -> float32 [].
    Its gradient, not that of a per-token mean, is what the tutorial's
    learning rate of 1.0 and clipping norm were tuned for.
    """
    logits = tf.cast(logits, tf.float32)
    # -log softmax(logits)[target] = logsumexp(logits) - logits[target]:
    # the same value and gradient as sparse_softmax_cross_entropy_with_logits,
    # in fewer passes over the [batch, time, vocab] logits (measured 1.4-1.6x
    # faster here, with and without XLA; the loss is ~10% of a small step).
    target_logits = tf.gather(logits, targets, batch_dims=2)
    nll = tf.reduce_logsumexp(logits, axis=-1) - target_logits
    return tf.reduce_sum(nll) / tf.cast(tf.shape(targets)[0], tf.float32)


def build_model(config: config_lib.Config, rnn_mode: str = "keras",
                precision: str = "float32") -> PTBModel:
    """A PTBModel with its weights created (ready to restore a checkpoint).

    precision: "float32", or "mixed_bfloat16" (float32 weights, bfloat16
    matmuls; see PTBModel); checkpoints are the same either way.
    """
    model = PTBModel(vocab_size=config.vocab_size,
                     hidden_size=config.hidden_size,
                     num_layers=config.num_layers, keep_prob=config.keep_prob,
                     init_scale=config.init_scale, rnn_mode=rnn_mode,
                     precision=precision)
    model(tf.zeros([1, 1], tf.int32))
    return model


def load_model(config: config_lib.Config, save_path: str) -> PTBModel:
    """The PTBModel of the latest checkpoint in save_path (weights only)."""
    model = build_model(config)
    checkpoint = tf.train.Checkpoint(model=model)
    checkpoint.restore(tf.train.latest_checkpoint(save_path)
                       ).expect_partial().assert_existing_objects_matched()
    return model


class Trainer:
    """Owns the model, the optimizer and the compiled train and eval steps."""

    def __init__(self, model: PTBModel, config: config_lib.Config,
                 jit_compile: bool = False):
        self.model = model
        self.config = config
        self.optimizer = keras.optimizers.SGD(learning_rate=config.learning_rate)
        self.optimizer.build(model.trainable_variables)
        self.train_step = tf.function(self._train_step, jit_compile=jit_compile)
        # train_steps(inputs, targets, count, state) runs a chunk of batches in
        # one call: no Python between steps and, under XLA, one compiled loop
        # (no per-step dispatch), which is what makes tiny models fast.
        self.train_steps = tf.function(
            functools.partial(self._run_steps, self._train_step),
            jit_compile=jit_compile)
        # Evaluation stays out of XLA: the exact test runs windows of
        # hundreds of steps, which the unrolled mode would compile unrolled.
        self.eval_steps = tf.function(
            functools.partial(self._run_steps, self.eval_step))

    def _train_step(self, inputs, targets, state):
        """One truncated-BPTT step from the carried state.

        inputs, targets: int32 [batch, num_steps];
        state: float32 [num_layers, 2, batch, hidden].
        Returns cost float32 [], the final state, and the global gradient norm
        before clipping float32 [].
        """
        with tf.GradientTape() as tape:
            logits, new_state = self.model(inputs, state, training=True)
            cost = sequence_cost(logits, targets)
        variables = self.model.trainable_variables
        gradients = tape.gradient(cost, variables)
        clipped, global_norm = tf.clip_by_global_norm(
            gradients, self.config.max_grad_norm)
        self.optimizer.apply(clipped, variables)
        return cost, new_state, global_norm

    @tf.function
    def eval_step(self, inputs, targets, state):
        """cost float32 [] and final state; no dropout, no update."""
        logits, new_state = self.model(inputs, state, training=False)
        return sequence_cost(logits, targets), new_state

    def _run_steps(self, step, inputs, targets, count, state):
        """Runs the first `count` batches of a chunk, carrying the state.

        step is _train_step or eval_step; both return the cost and the state
        first. inputs, targets: int32 [chunk, batch, time]; count: int32 [].
        Returns the summed cost float32 [] and the final state.
        """
        total_cost = tf.constant(0.0)
        for index in tf.range(count):
            cost, state = step(inputs[index], targets[index], state)[:2]
            total_cost += cost
        return total_cost, state

    def run_epoch(self, ids: np.ndarray, batch_size: int, num_steps: int,
                  train: bool, log: Optional[Log] = None) -> Dict[str, float]:
        """One pass over ids from the zero state, in the tutorial's batches.

        ids: int [num_tokens]. The batches run in ten compiled calls, one per
        progress line. Returns perplexity (exp of the mean NLL per predicted
        token), words per second and seconds; logs the progress lines if
        `log` is given.
        """
        state = self.model.zero_state(batch_size)
        total_batches = num_batches(len(ids), batch_size, num_steps)
        run_steps = self.train_steps if train else self.eval_steps
        total_cost, done = 0.0, 0
        start = time.perf_counter()
        for inputs, targets, count in chunk_dataset(ids, batch_size,
                                                    num_steps):
            cost, state = run_steps(inputs, targets, count, state)
            done += int(count)
            total_cost += float(cost)
            if log:
                words = done * num_steps * batch_size
                log(f"{done / total_batches:.3f} perplexity: "
                    f"{math.exp(total_cost / (done * num_steps)):.3f} speed: "
                    f"{words / (time.perf_counter() - start):.0f} wps")
        seconds = time.perf_counter() - start
        return {"perplexity": math.exp(total_cost / (done * num_steps)),
                "words_per_second": done * num_steps * batch_size / seconds,
                "seconds": seconds}

    def evaluate_exact(self, ids: np.ndarray, window: int) -> float:
        """Perplexity over every prediction of `ids` at batch size 1.

        Equals the tutorial's batch-1, step-1 test run for any window length,
        because the state is carried across windows and no token is dropped.
        """
        state = self.model.zero_state(1)
        total_cost = 0.0
        for inputs, targets in sequential_windows(ids, window):
            cost, state = self.eval_steps(inputs, targets,
                                          tf.constant(len(inputs)), state)
            total_cost += float(cost)
        return math.exp(total_cost / (len(ids) - 1))


def machine_info() -> Dict[str, Any]:
    """What a results file needs to say about where it was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(),
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "platform": platform.platform()}


def train_and_evaluate(config: config_lib.Config, corpus: Corpus,
                       save_path: Optional[str] = None, seed: int = 0,
                       eval_window: int = 500, log: Log = print,
                       command: str = "", rnn_mode: str = "keras",
                       jit_compile: bool = False,
                       precision: str = "float32") -> Dict[str, Any]:
    """Trains `config` on `corpus`, evaluating each epoch, and tests at the end.

    With `save_path`, a checkpoint is written after every epoch and a later
    call with the same save_path resumes after the last finished epoch. The
    caller checks that save_path holds a run of the same config and vocabulary
    (see ptb_tf.save_dir). Returns the results dict, also written to
    save_path/results.json.
    """
    keras.utils.set_random_seed(seed)
    model = build_model(config, rnn_mode, precision)
    trainer = Trainer(model, config, jit_compile=jit_compile)
    epochs_done = tf.Variable(0, dtype=tf.int64, name="epochs_done")
    history = tf.Variable(
        np.zeros([config.max_max_epoch, len(HISTORY_COLUMNS)]), name="history")
    wall_seconds = tf.Variable(0.0, dtype=tf.float64, name="wall_seconds")
    manager = None
    if save_path:
        checkpoint = tf.train.Checkpoint(
            model=model, optimizer=trainer.optimizer, epochs_done=epochs_done,
            history=history, wall_seconds=wall_seconds)
        manager = tf.train.CheckpointManager(checkpoint, save_path,
                                             max_to_keep=3)
        if manager.latest_checkpoint:
            checkpoint.restore(
                manager.latest_checkpoint).assert_existing_objects_matched()
            log(f"Resuming from {manager.latest_checkpoint} after epoch "
                f"{int(epochs_done.numpy())}")

    for epoch in range(int(epochs_done.numpy()), config.max_max_epoch):
        epoch_start = time.perf_counter()
        learning_rate = config_lib.learning_rate_for_epoch(config, epoch)
        trainer.optimizer.learning_rate.assign(learning_rate)
        log(f"Epoch: {epoch + 1} Learning rate: {learning_rate:.3f}")
        train = trainer.run_epoch(corpus.train, config.batch_size,
                                  config.num_steps, train=True, log=log)
        log(f"Epoch: {epoch + 1} Train Perplexity: {train['perplexity']:.3f}")
        valid = trainer.run_epoch(corpus.valid, config.batch_size,
                                  config.num_steps, train=False)
        log(f"Epoch: {epoch + 1} Valid Perplexity: {valid['perplexity']:.3f}")
        epoch_seconds = time.perf_counter() - epoch_start
        history[epoch].assign([learning_rate, train["perplexity"],
                               valid["perplexity"], train["words_per_second"],
                               epoch_seconds])
        wall_seconds.assign_add(epoch_seconds)
        epochs_done.assign(epoch + 1)
        if manager:
            manager.save(checkpoint_number=epoch + 1)

    test_start = time.perf_counter()
    test_perplexity = trainer.evaluate_exact(corpus.test, eval_window)
    test_seconds = time.perf_counter() - test_start
    log(f"Test Perplexity: {test_perplexity:.3f}")

    rows = history.numpy()
    results = {
        "command": command,
        "config": config.to_dict(),
        "seed": seed,
        "rnn_mode": rnn_mode,
        "jit_compile": jit_compile,
        "precision": precision,
        "epochs": [dict(epoch=index + 1, **dict(zip(HISTORY_COLUMNS,
                                                     map(float, row))))
                   for index, row in enumerate(rows)],
        "train_perplexity": float(rows[-1][1]),
        "valid_perplexity": float(rows[-1][2]),
        "test_perplexity": test_perplexity,
        "test_tokens_predicted": int(len(corpus.test) - 1),
        "test_eval_window": eval_window,
        "test_seconds": test_seconds,
        "train_words_per_second": float(np.mean(rows[:, 3])),
        "wall_seconds": float(wall_seconds.numpy()) + test_seconds,
        "machine": machine_info(),
    }
    if save_path:
        atomic_write_text(os.path.join(save_path, "results.json"),
                          json.dumps(results, indent=2) + "\n")
    return results
