"""Truncated-BPTT training and evaluation, checkpointed during every epoch.

Takes a Config and a Corpus, never flags, so tests and notebooks call it
directly with a tiny corpus.
"""

import dataclasses
import functools
import hashlib
import json
import math
import os
import platform
import time
from typing import Any, Callable, Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from ptb_tf import checkpoints
from ptb_tf import config as config_lib
from ptb_tf import identity
from ptb_tf.errors import UserError
from ptb_tf.files import atomic_write_text
from ptb_tf.model import PTBModel
from ptb_tf.pipeline import chunk_dataset, sequential_windows
from ptb_tf.reader import Corpus, num_batches
from ptb_tf.summaries import Summaries
from ptb_tf.vocab import Vocabulary

Log = Callable[[str], None]

HISTORY_COLUMNS = checkpoints.HISTORY_COLUMNS


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


def log_uniform_candidates(num_sampled: int, vocab_size: int, seed):
    """Draws num_sampled word ids with replacement from the log-uniform
    (Zipfian) distribution of tf.random.log_uniform_candidate_sampler:
    P(k) = log((k + 2) / (k + 1)) / log(vocab_size + 1), which fits a
    vocabulary sorted by falling frequency, as ptb_tf's are.

    Written with keras.random, not that op, so that XLA compiles it and a
    checkpoint carries the seed's position. Returns int32 [num_sampled].
    """
    uniform = keras.random.uniform([num_sampled], seed=seed, dtype="float32")
    # The inverse of the CDF log(k + 1) / log(V + 1).
    ids = tf.math.floor(tf.exp(uniform * math.log(vocab_size + 1))) - 1
    return tf.clip_by_value(tf.cast(ids, tf.int32), 0, vocab_size - 1)


def log_uniform_expected_count(ids, num_sampled: int, vocab_size: int):
    """How often a draw of num_sampled candidates holds each of ids (any
    int shape) on average: num_sampled * P(id), float32."""
    ids = tf.cast(ids, tf.float32)
    probability = (tf.math.log((ids + 2.0) / (ids + 1.0))
                   / math.log(vocab_size + 1))
    return num_sampled * probability


def sampled_cost(model: PTBModel, outputs: tf.Tensor, targets: tf.Tensor,
                 num_sampled: int) -> tf.Tensor:
    """sequence_cost with tf.nn.sampled_softmax_loss in place of the softmax.

    outputs: float [batch, time, hidden] (PTBModel.features); targets: int32
    [batch, time] -> float32 []. One set of num_sampled log-uniform
    candidates serves the whole batch; the logits are computed for them and
    the targets only, not for the whole vocabulary. An estimate for
    training: evaluation uses the full softmax.
    """
    kernel, bias = model.softmax_weights()
    vocab_size = model.vocab_size
    sampled = log_uniform_candidates(num_sampled, vocab_size,
                                     model.sampler_seed)
    labels = tf.reshape(tf.cast(targets, tf.int64), [-1, 1])
    nll = tf.nn.sampled_softmax_loss(
        # [vocab, hidden]: the embedding itself when tied.
        weights=(model.embedding.embeddings if model.tie_embeddings
                 else tf.transpose(kernel)),
        biases=bias, labels=labels,
        inputs=tf.reshape(tf.cast(outputs, tf.float32),
                          [-1, model.hidden_size]),
        num_sampled=num_sampled, num_classes=vocab_size,
        sampled_values=(
            tf.cast(sampled, tf.int64),
            log_uniform_expected_count(labels, num_sampled, vocab_size),
            log_uniform_expected_count(sampled, num_sampled, vocab_size)),
        # Removing the targets from the candidates takes an op that XLA
        # cannot compile (ComputeAccidentalHits, CPU only). It changed little
        # where measured: a 2,000-word Zipf text, 64 candidates, full-softmax
        # valid perplexity 124.0 with, 121.6 without. Evaluation never samples.
        remove_accidental_hits=False)
    return tf.reduce_sum(nll) / tf.cast(tf.shape(targets)[0], tf.float32)


def build_model(config: config_lib.Config, rnn_mode: str = "keras",
                precision: str = "float32") -> PTBModel:
    """A PTBModel with its weights created (ready to restore a checkpoint).

    precision: "float32", "mixed_bfloat16" or "mixed_float16" (float32
    weights, half-precision matmuls; see PTBModel); checkpoints are the same
    either way.
    """
    model = PTBModel(vocab_size=config.vocab_size,
                     hidden_size=config.hidden_size,
                     num_layers=config.num_layers, keep_prob=config.keep_prob,
                     init_scale=config.init_scale, rnn_mode=rnn_mode,
                     precision=precision, cell=config.cell,
                     tie_embeddings=config.tie_embeddings,
                     dropout=config.dropout,
                     embedding_dropout=config.embedding_dropout)
    model(tf.zeros([1, 1], tf.int32))
    return model


def load_model(config: config_lib.Config, save_path: str,
               which: str = checkpoints.BEST,
               vocab_path: Optional[str] = None) -> PTBModel:
    """The PTBModel of a checkpoint in save_path (weights only).

    which: "best" (the best validation perplexity, or the latest if no best
    one was kept) or "latest". With vocab_path, the checkpoint's recorded
    config and vocabulary must be `config` and that file's (UserError if not).
    """
    path = checkpoints.best_or_latest(save_path, which)
    if vocab_path:
        checkpoints.check_identity(
            path, identity.identity_of(config, Vocabulary.load(vocab_path)),
            "load the model")
    model = build_model(config)
    checkpoint = tf.train.Checkpoint(model=model)
    checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    return model


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
    so far; note: what after_chunk added (e.g. "(saved ckpt-3)").
    """

    done: int
    total: int
    perplexity: float
    chunk_loss: float
    gradient_norm: float
    words_per_second: float
    note: str = ""

    def line(self) -> str:
        """The tutorial's progress line."""
        return (f"{self.done / self.total:.3f} perplexity: "
                f"{self.perplexity:.3f} speed: {self.words_per_second:.0f} wps"
                + self.note)


class Trainer:
    """Owns the model, the optimizer and the compiled train and eval loops."""

    def __init__(self, model: PTBModel, config: config_lib.Config,
                 jit_compile: bool = False):
        self.model = model
        self.config = config
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
        # For tests only: the loss of this optimizer step (0-based) is made
        # NaN, to show what the NaN guard does. -1: never.
        self.nan_at_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
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
            cost = tf.where(self.optimizer.iterations == self.nan_at_step,
                            tf.constant(np.nan, tf.float32), cost)
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
        gradients = tape.gradient(cost, variables)
        clipped, global_norm = tf.clip_by_global_norm(
            gradients, self.config.max_grad_norm)
        finite = tf.math.is_finite(cost) & tf.math.is_finite(global_norm)
        # Zero gradients leave plain SGD's weights exactly as they were.
        self.optimizer.apply([zero_unless(finite, gradient)
                              for gradient in clipped], variables)
        return cost, new_state, global_norm

    def training_cost(self, inputs, targets, state):
        """The training loss of a batch (dropout on; the sampled softmax if
        configured) and the new state; call it under a GradientTape."""
        if self.config.softmax == "sampled":
            outputs, new_state = self.model.features(inputs, state,
                                                     training=True)
            return sampled_cost(self.model, outputs, targets,
                                self.config.num_sampled), new_state
        logits, new_state = self.model(inputs, state, training=True)
        return sequence_cost(logits, targets), new_state

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
                    train: bool, progress: Progress, chunk: int,
                    log: Optional[Log] = None,
                    after_chunk: Optional[Callable[[Progress], str]] = None,
                    on_chunk: Optional[Callable[["ChunkReport"], None]] = None
                    ) -> Progress:
        """Continues a pass over ids from `progress`, `chunk` batches a call.

        Logs a progress line about every tenth of the pass if `log` is given;
        calls after_chunk(progress) after each call, and adds what it returns
        to the line; then on_chunk(ChunkReport) (summaries, a progress bar).
        Raises Diverged at a batch whose cost is not finite.
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
            note = after_chunk(progress) if after_chunk else ""
            report = ChunkReport(
                done=progress.done, total=total,
                perplexity=math.exp(progress.cost
                                    / (progress.done * num_steps)),
                chunk_loss=float(cost) / (int(count) * num_steps),
                gradient_norm=float(norm) / int(count),
                words_per_second=words / (time.perf_counter() - start),
                note=note)
            if log and (10 * progress.done // total > 10 * previous // total
                        or progress.done == total):
                log(report.line())
            if on_chunk:
                on_chunk(report)
        return progress

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
        progress = self.run_batches(
            ids, batch_size, num_steps, train,
            Progress(0, 0.0, self.model.zero_state(batch_size)),
            chunk_size(ids, batch_size, num_steps), log)
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


def _ignore(line: str) -> None:
    del line


def zero_unless(condition, gradient):
    """The gradient where condition holds, else zeros of its shape."""
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(zero_unless(condition, gradient.values),
                                gradient.indices, gradient.dense_shape)
    return tf.where(condition, gradient, tf.zeros_like(gradient))


def chunk_size(ids: np.ndarray, batch_size: int, num_steps: int,
               checkpoint_every: int = 0) -> int:
    """Batches per compiled call: a tenth of the pass (one progress line),
    or fewer to checkpoint every `checkpoint_every` batches."""
    tenth = -(-num_batches(len(ids), batch_size, num_steps) // 10)
    return min(tenth, checkpoint_every) if checkpoint_every > 0 else tenth


def weights_sha256(model: PTBModel) -> str:
    """A digest of every weight's bytes: equal digests, equal models."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def token_unit(corpus: Corpus) -> str:
    """"character" if the tokens are characters (--level=char, or files such
    as PTB's ptb.char.* whose words are single characters), else "token"."""
    specials = {"<eos>", "<unk>"}
    if corpus.level == "char" or all(len(word) == 1 for word in
                                     corpus.vocab.words
                                     if word not in specials):
        return "character"
    return "token"


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


ON_NAN = ("stop", "restore")
MAX_RESTORES = 10


def train_and_evaluate(config: config_lib.Config, corpus: Corpus,
                       save_path: Optional[str] = None, seed: int = 0,
                       eval_window: int = 500, log: Log = print,
                       command: str = "", rnn_mode: str = "keras",
                       jit_compile: bool = False,
                       precision: str = "float32", checkpoint_every: int = 0,
                       on_nan: str = "stop",
                       nan_at_step: int = -1, verbosity: int = 2,
                       progress_bar: bool = False,
                       strategy: Optional[tf.distribute.Strategy] = None
                       ) -> Dict[str, Any]:
    """Trains `config` on `corpus`, evaluating each epoch, and tests at the end.

    With `save_path`, checkpoints (ptb_tf.checkpoints) are written during
    each epoch, every `checkpoint_every` batches (0: every tenth of the epoch)
    and at its end, and a later call with the same save_path continues from
    the latest as if nothing had happened; the checkpoint with the best
    validation perplexity is kept in save_path/best. The caller checks
    save_path's files first (see ptb_tf.save_dir); the checkpoint's own
    identity is checked here.

    A batch whose loss or gradient norm is not finite changes no weight and
    stops training with a UserError; with on_nan="restore" the latest
    checkpoint is restored instead and the learning rate halved (up to
    MAX_RESTORES times). nan_at_step, for tests, makes the loss of that
    optimizer step NaN once. Returns the results dict, also written to
    save_path/results.json.

    verbosity 0 logs only the test line; 1 adds a line per epoch event
    (start, train, valid, resume); 2 adds the progress within each epoch:
    the tutorial's ~10 lines, or with progress_bar a keras.utils.Progbar
    (for a terminal). With save_path, TensorBoard scalars go to
    save_path/logs (see ptb_tf.summaries).

    strategy: a tf.distribute strategy (ptb_tf.distributed) to train
    data-parallel; evaluation runs on each worker as on one device.
    """
    if on_nan not in ON_NAN:
        raise ValueError(f"on_nan must be one of {', '.join(ON_NAN)}. "
                         f"Received: on_nan={on_nan}")
    if on_nan == "restore" and not save_path:
        raise ValueError("on_nan=restore needs a save_path to restore from")
    epoch_log = log if verbosity >= 1 else _ignore
    detail_log = log if verbosity >= 2 and not progress_bar else None
    keras.utils.set_random_seed(seed)
    if strategy is None:
        model = build_model(config, rnn_mode, precision)
        trainer = Trainer(model, config, jit_compile=jit_compile)
    else:
        from ptb_tf import distributed  # pylint: disable=g-import-not-at-top
        with strategy.scope():
            model = build_model(config, rnn_mode, precision)
        trainer = distributed.DistributedTrainer(model, config, strategy)
    trainer.nan_at_step.assign(nan_at_step)
    run_identity = identity.identity_of(config, corpus.vocab, corpus)
    run = checkpoints.RunState(model, config.max_max_epoch, config.batch_size,
                               run_identity)
    saver = checkpoints.Saver(model, trainer.optimizer, run,
                              save_path) if save_path else None
    if saver and saver.latest_path:
        path = saver.restore_latest(run_identity)
        if int(run.epochs_done) == config.max_max_epoch:
            epoch_log(f"Resuming from {path}: all {config.max_max_epoch} "
                      "epochs done, testing")
        else:
            epoch_log(f"Resuming from {path}: epoch "
                      f"{int(run.epochs_done) + 1}, batch "
                      f"{int(run.batches_done)}")
    elif saver and on_nan == "restore":
        saver.save()  # something to go back to from the very first batch

    total = num_batches(len(corpus.train), config.batch_size, config.num_steps)
    tenth = chunk_size(corpus.train, config.batch_size, config.num_steps)
    chunk = chunk_size(corpus.train, config.batch_size, config.num_steps,
                       checkpoint_every)
    if progress_bar and verbosity >= 2:
        # A bar that moves about every 1% of the epoch (checkpoints keep
        # their own spacing).
        chunk = min(chunk, max(1, tenth // 10))
    summaries = Summaries(save_path) if save_path else None
    bar = [None]
    clock = [time.perf_counter()]

    def account_time():
        now = time.perf_counter()
        run.wall_seconds.assign_add(now - clock[0])
        clock[0] = now

    last_saved = [0]  # batches done at the last save of this epoch

    def save_in_epoch(progress: Progress) -> str:
        # Every `every` batches, at the first chunk end past each multiple,
        # and once the epoch's batches are done (validation comes next).
        every = checkpoint_every or tenth
        if not saver or (progress.done < total and
                         progress.done // every == last_saved[0] // every):
            return ""
        if not checkpoints.weights_are_finite(model):
            # An update with a finite gradient still overflowed: treated as
            # a non-finite loss, and never saved.
            raise Diverged(progress.done)
        last_saved[0] = progress.done
        run.batches_done.assign(progress.done)
        run.epoch_cost.assign(progress.cost)
        run.state.assign(progress.state)
        account_time()
        return f" (saved {saver.save()})"

    restores = 0
    while int(run.epochs_done) < config.max_max_epoch:
        epoch = int(run.epochs_done)
        epoch_start = time.perf_counter()
        learning_rate = (config_lib.learning_rate_for_epoch(config, epoch)
                         * float(run.learning_rate_factor))
        trainer.optimizer.learning_rate.assign(learning_rate)
        start = Progress(int(run.batches_done), float(run.epoch_cost),
                         tf.convert_to_tensor(run.state))
        last_saved[0] = start.done
        epoch_log(f"Epoch: {epoch + 1} Learning rate: {learning_rate:.3f}"
                  + (f" (from batch {start.done} of {total})"
                     if start.done else ""))
        if progress_bar and verbosity >= 2:
            bar[0] = keras.utils.Progbar(
                total, stateful_metrics=["perplexity", "words/s"])
            bar[0].update(start.done)

        def on_chunk(report: ChunkReport, epoch=epoch,
                     learning_rate=learning_rate):
            if summaries:
                summaries.chunk(epoch * total + report.done, report,
                                learning_rate)
            if bar[0]:
                bar[0].update(report.done, [
                    ("perplexity", report.perplexity),
                    ("words/s", report.words_per_second)])

        try:
            progress = trainer.run_batches(
                corpus.train, config.batch_size, config.num_steps, True, start,
                chunk, detail_log, save_in_epoch, on_chunk)
        except Diverged as error:
            where = f"epoch {epoch + 1}, batch {error.batch} of {total}"
            if on_nan != "restore":
                raise UserError(
                    f"training diverged: the loss or the weights became "
                    f"non-finite at {where}; no checkpoint holds a non-finite "
                    "value (the last good one is kept). Lower --learning_rate "
                    "or --max_grad_norm, or pass --on_nan=restore") from None
            restores += 1
            if restores > MAX_RESTORES:
                raise UserError(
                    f"training diverged at {where} again after {MAX_RESTORES} "
                    "restores with ever lower learning rates; lower "
                    "--learning_rate or --max_grad_norm") from None
            trainer.nan_at_step.assign(-1)
            path = saver.restore_latest(run_identity)
            run.learning_rate_factor.assign(run.learning_rate_factor * 0.5)
            epoch_log(f"Non-finite loss at {where}: restored {path} (epoch "
                      f"{int(run.epochs_done) + 1}, batch "
                      f"{int(run.batches_done)}) and halved the learning rate "
                      f"(factor {float(run.learning_rate_factor):g})")
            continue
        train_perplexity = math.exp(progress.cost / (total * config.num_steps))
        epoch_log(f"Epoch: {epoch + 1} Train Perplexity: "
                  f"{train_perplexity:.3f}")
        valid = trainer.run_epoch(corpus.valid, config.batch_size,
                                  config.num_steps, train=False)
        epoch_log(f"Epoch: {epoch + 1} Valid Perplexity: "
                  f"{valid['perplexity']:.3f}")
        if summaries:
            summaries.epoch((epoch + 1) * total, train_perplexity,
                            valid["perplexity"])
        epoch_seconds = time.perf_counter() - epoch_start
        trained_words = ((total - start.done) * config.num_steps
                         * config.batch_size)
        run.history[epoch].assign([
            learning_rate, train_perplexity, valid["perplexity"],
            trained_words / max(epoch_seconds - valid["seconds"], 1e-9),
            epoch_seconds])
        if not math.isfinite(valid["perplexity"]):
            raise UserError(
                f"training diverged: the validation loss after epoch "
                f"{epoch + 1} is not finite; nothing of that epoch's end was "
                "saved. Lower --learning_rate or --max_grad_norm")
        improved = valid["perplexity"] < float(run.best_valid)
        if improved:
            run.best_valid.assign(valid["perplexity"])
        run.epochs_done.assign(epoch + 1)
        run.batches_done.assign(0)
        run.epoch_cost.assign(0.0)
        run.state.assign(model.zero_state(config.batch_size))
        account_time()
        if saver:
            saver.save(best=improved)

    test_start = time.perf_counter()
    test_perplexity = trainer.evaluate_exact(corpus.test, eval_window)
    test_seconds = time.perf_counter() - test_start
    if summaries:
        summaries.test(config.max_max_epoch * total, test_perplexity)
        summaries.close()
    unit = token_unit(corpus)
    log(f"Test Perplexity: {test_perplexity:.3f} "
        f"({math.log2(test_perplexity):.3f} bits per {unit})")

    rows = run.history.numpy()
    account_time()
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
        "test_bits_per_token": math.log2(test_perplexity),
        "replicas": strategy.num_replicas_in_sync if strategy else 1,
        "weights_sha256": weights_sha256(model),
        "token_unit": unit,
        "test_tokens_predicted": int(len(corpus.test) - 1),
        "test_eval_window": eval_window,
        "test_seconds": test_seconds,
        "best_valid_perplexity": float(run.best_valid),
        "best_epoch": int(np.argmin(rows[:, 2])) + 1,
        "train_words_per_second": float(np.mean(rows[:, 3])),
        "wall_seconds": float(run.wall_seconds),
        "machine": machine_info(),
    }
    if save_path:
        atomic_write_text(os.path.join(save_path, "results.json"),
                          json.dumps(results, indent=2) + "\n")
    return results
