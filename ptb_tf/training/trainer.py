"""The compiled truncated-BPTT steps: train and evaluate chunks of batches."""

import dataclasses
import functools
import math
import time
from typing import Callable, Dict, Iterator, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from ptb_tf.training.losses import (NARROW_HIDDEN, narrow_sequence_cost,
                                    sampled_cost, sequence_cost)
from ptb_tf.training.sgd import apply_clipped_sgd

from ptb_tf import config as config_lib
from ptb_tf.corpus.datasets import chunk_dataset, sequential_windows
from ptb_tf.corpus.layout import chunk_size, num_batches
from ptb_tf.errors import UserError
from ptb_tf.model.ptb_model import PTBModel


class Diverged(UserError):
    """The loss or the gradient norm stopped being finite at `batch` (1-based)."""

    def __init__(self, batch: int):
        super().__init__(f"non-finite loss at batch {batch}")
        self.batch = batch


@dataclasses.dataclass
class Progress:
    """How far a pass over one split has got.

    done: batches run; cost: their summed cost; state: float32
    [num_layers, state_parts, batch, hidden] carried into the next batch.
    """

    done: int
    cost: float
    state: tf.Tensor


@dataclasses.dataclass
class ChunkReport:
    """What one compiled call over a chunk of batches did.

    done / total: batches of the pass; perplexity: of the pass so far;
    chunk_loss: mean NLL per token of this chunk; gradient_norm: mean global
    norm before clipping (0 when evaluating); words_per_second: of the pass
    so far; line_due: whether this chunk ends a tenth of the pass (or the
    pass), where the tutorial prints a line.
    """

    done: int
    total: int
    perplexity: float
    chunk_loss: float
    gradient_norm: float
    words_per_second: float
    line_due: bool

    def line(self, note: str = "") -> str:
        """The tutorial's progress line, `note` (e.g. " (saved ckpt-3)") after it."""
        return (f"{self.done / self.total:.3f} perplexity: "
                f"{self.perplexity:.3f} speed: {self.words_per_second:.0f} wps"
                + note)


Log = Callable[[str], None]


class Trainer:
    """Owns the model, the optimizer and the compiled train and eval loops."""

    def __init__(self, model: PTBModel, config: config_lib.Config,
                 jit_compile: bool = False):
        self.model = model
        self.config = config
        self.jit_compile = jit_compile
        # float16 gradients underflow without loss scaling: Keras's
        # LossScaleOptimizer multiplies the loss by a dynamic scale, divides
        # the gradients by it, and skips (and halves the scale) on overflow;
        # its inner SGD clips the unscaled gradients. bfloat16 has float32's
        # exponent range and needs none.
        self.loss_scaled = model.precision == "mixed_float16"
        if self.loss_scaled:
            self.optimizer = keras.optimizers.LossScaleOptimizer(
                keras.optimizers.SGD(learning_rate=config.learning_rate,
                                     global_clipnorm=config.max_grad_norm))
        else:
            self.optimizer = keras.optimizers.SGD(
                learning_rate=config.learning_rate)
        self.optimizer.build(model.trainable_variables)
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
        # One dataset per split and chunking, built once: a new one each
        # epoch would trace its functions anew, and memory would creep.
        self._datasets = {}

    def _train_step(self, inputs, targets, state):
        """One truncated-BPTT step from the carried state.

        inputs, targets: int32 [batch, num_steps];
        state: float32 [num_layers, state_parts, batch, hidden].
        Returns cost float32 [], the final state, and the global gradient norm
        before clipping float32 []. A step whose cost or norm is not finite
        changes no weight.
        """
        with tf.GradientTape() as tape:
            cost, new_state = self.training_cost(inputs, targets, state)
            if self.loss_scaled:
                scale = tf.identity(self.optimizer.dynamic_scale)
                scaled_cost = self.optimizer.scale_loss(cost)
        variables = self.model.trainable_variables
        if self.loss_scaled:
            scaled = tape.gradient(scaled_cost, variables)
            # Applied, clipped to max_grad_norm after unscaling, or skipped
            # if the scaled gradients overflowed (then the scale halves).
            self.optimizer.apply(scaled, variables)
            return cost, new_state, tf.linalg.global_norm(scaled) / scale
        global_norm = apply_clipped_sgd(
            self.optimizer, variables, tape.gradient(cost, variables),
            self.config.max_grad_norm, tf.math.is_finite(cost))
        return cost, new_state, global_norm

    def training_cost(self, inputs, targets, state):
        """The training loss of a batch (dropout on; the sampled softmax if
        configured) and the new state; call it under a GradientTape."""
        outputs, new_state = self.model.features(inputs, state, training=True)
        if self.config.softmax == "sampled":
            return sampled_cost(self.model, outputs, targets,
                                self.config.num_sampled), new_state
        return self.softmax_cost(outputs, targets), new_state

    def softmax_cost(self, outputs, targets):
        """sequence_cost of the top layer's outputs [batch, time, hidden]
        and targets int32 [batch, time], in the form that is fastest where
        the step runs: under XLA, a model of a few hidden units (the test
        config) has its logits computed inside the loss."""
        if (self.jit_compile and self.model.rnn_mode != "keras"
                and self.model.hidden_size <= NARROW_HIDDEN):
            return narrow_sequence_cost(outputs, *self.model.softmax_weights(),
                                        targets)
        return sequence_cost(self.model.logits(outputs), targets,
                             autodiff=self.jit_compile)

    @tf.function
    def eval_step(self, inputs, targets, state):
        """cost float32 [] and final state; no dropout, no update."""
        logits, new_state = self.model(inputs, state, training=False)
        return sequence_cost(logits, targets), new_state

    def _run_steps(self, step, inputs, targets, count, state):
        """Runs the first `count` batches of a chunk, carrying the state.

        step is _train_step or eval_step; both return the cost and the state
        first. inputs, targets: int32 [chunk, batch, time]; count: int32 [].
        Stops after the first batch whose cost is not finite. Returns the
        batches run int32 [], their summed cost float32 [], the final state,
        whether every cost was finite bool [], and the summed global gradient
        norms before clipping float32 [] (0 for eval_step).
        """
        def more(index, total_cost, state, finite, total_norm):
            del total_cost, state, total_norm
            return (index < count) & finite

        def run_one(index, total_cost, state, finite, total_norm):
            del finite
            results = step(inputs[index], targets[index], state)
            cost, state = results[:2]
            norm = results[2] if len(results) > 2 else tf.constant(0.0)
            return (index + 1, total_cost + cost, state,
                    tf.math.is_finite(cost), total_norm + norm)

        return tf.while_loop(more, run_one, (tf.constant(0), tf.constant(0.0),
                                            state, tf.constant(True),
                                            tf.constant(0.0)))

    def run_batches(self, ids: np.ndarray, batch_size: int, num_steps: int,
                    train: bool, progress: Progress, chunk: int
                    ) -> Iterator[Tuple[Progress, ChunkReport]]:
        """Continues a pass over ids from `progress`, `chunk` batches a call.

        Yields the progress and a ChunkReport after each call (the caller
        saves, logs, writes summaries). Raises Diverged at a batch whose cost
        is not finite.
        """
        total = num_batches(len(ids), batch_size, num_steps)
        run_steps = self.train_steps if train else self.eval_steps
        start, words = time.perf_counter(), 0
        for inputs, targets, count in self._chunks(
                ids, batch_size, num_steps, chunk, progress.done):
            ran, cost, state, finite, norm = run_steps(inputs, targets, count,
                                                       progress.state)
            if not bool(finite):
                raise Diverged(progress.done + int(ran))
            previous = progress.done
            progress = Progress(progress.done + int(count),
                                progress.cost + float(cost), state)
            words += int(count) * num_steps * batch_size
            yield progress, ChunkReport(
                done=progress.done, total=total,
                perplexity=math.exp(progress.cost
                                    / (progress.done * num_steps)),
                chunk_loss=float(cost) / (int(count) * num_steps),
                gradient_norm=float(norm) / int(count),
                words_per_second=words / (time.perf_counter() - start),
                line_due=(10 * progress.done // total > 10 * previous // total
                          or progress.done == total))

    def _chunks(self, ids, batch_size, num_steps, chunk, start):
        """chunk_dataset(...), the same object for the same arguments."""
        key = (id(ids), batch_size, num_steps, chunk, start)
        if key not in self._datasets or self._datasets[key][0] is not ids:
            self._datasets[key] = (ids, chunk_dataset(
                ids, batch_size, num_steps, chunk, start=start))
        return self._datasets[key][1]

    def run_epoch(self, ids: np.ndarray, batch_size: int, num_steps: int,
                  train: bool, log: Optional[Log] = None) -> Dict[str, float]:
        """One pass over ids from the zero state, in the tutorial's batches.

        ids: int [num_tokens]. The batches run in ten compiled calls, one per
        progress line. Returns perplexity (exp of the mean NLL per predicted
        token), words per second and seconds; logs the progress lines if
        `log` is given.
        """
        start = time.perf_counter()
        progress = Progress(0, 0.0, self.model.zero_state(batch_size))
        for progress, report in self.run_batches(
                ids, batch_size, num_steps, train, progress,
                chunk_size(ids, batch_size, num_steps)):
            if log and report.line_due:
                log(report.line())
        seconds = time.perf_counter() - start
        words = progress.done * num_steps * batch_size
        return {"perplexity": math.exp(progress.cost
                                       / (progress.done * num_steps)),
                "words_per_second": words / seconds, "seconds": seconds}

    def evaluate_exact(self, ids: np.ndarray, window: int) -> float:
        """Perplexity over every prediction of `ids` at batch size 1.

        Equals the tutorial's batch-1, step-1 test run for any window length,
        because the state is carried across windows and no token is dropped.
        """
        state = self.model.zero_state(1)
        total_cost = 0.0
        for inputs, targets in sequential_windows(ids, window):
            _, cost, state, _, _ = self.eval_steps(
                inputs, targets, tf.constant(len(inputs)), state)
            total_cost += float(cost)
        return math.exp(total_cost / (len(ids) - 1))
