"""A training run: resume or start, train epoch by epoch, test, report.

Takes a Config, a Corpus and RunOptions, never flags, so tests and notebooks
call it directly with a tiny corpus.
"""

import math
import os
import time
from typing import Any, Dict, Optional

import keras
import tensorflow as tf

from ptb_tf import hardware, run_dir
from ptb_tf.config import Config, learning_rate_for_epoch
from ptb_tf.corpus.layout import chunk_size, num_batches
from ptb_tf.corpus.splits import Corpus
from ptb_tf.errors import UserError
from ptb_tf.options import AUTO, RunOptions, resolve_auto
from ptb_tf.training import checkpoints
from ptb_tf.training import distributed
from ptb_tf.training import results as results_lib
from ptb_tf.training.models import build_model
from ptb_tf.training.summaries import Summaries
from ptb_tf.training.trainer import ChunkReport, Diverged, Log, Progress, Trainer

# How often --on_nan=restore goes back before it gives up.
MAX_RESTORES = 10


def _ignore(line: str) -> None:
    del line


class TrainingRun:
    """Trains `config` on `corpus`, evaluating each epoch, and tests at the end.

    With `save_path`, checkpoints (ptb_tf.training.checkpoints) are written
    during each epoch, every options.checkpoint_every batches (0: every tenth
    of the epoch) and at its end, and a later run with the same save_path
    continues from the latest as if nothing had happened; the checkpoint
    with the best validation perplexity is kept in save_path/best. The
    folder is prepared and checked by ptb_tf.run_dir first.

    A batch whose loss or gradient norm is not finite changes no weight and
    stops training with a UserError; with options.on_nan="restore" the
    latest checkpoint is restored instead and the learning rate halved (up to
    MAX_RESTORES times). With save_path, TensorBoard scalars go to
    save_path/logs (ptb_tf.training.summaries).

    strategy: a tf.distribute strategy (ptb_tf.training.distributed) to
    train data-parallel; evaluation runs on each worker as on one device. In
    a multi-worker cluster the chief alone writes save_path; every worker
    takes part in each checkpoint and resumes from the chief's, a lost
    worker ends the others with a UserError, and SIGTERM to any makes all
    save and stop.
    """

    def __init__(self, config: Config, corpus: Corpus,
                 save_path: Optional[str] = None,
                 options: RunOptions = RunOptions(), log: Log = print,
                 command: str = "",
                 strategy: Optional[tf.distribute.Strategy] = None):
        problem = options.problem(config.cell, save_path)
        if problem:
            raise ValueError(problem)
        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        options = resolve_auto(options, on_gpu=on_gpu,
                               one_device=strategy is None)
        note = hardware.bfloat16_note(options.precision, on_gpu)
        if note:
            log(note)
        # In a multi-worker cluster only the chief writes the run folder;
        # the others save into a folder of their own, then drop it.
        self.chief = strategy is None or strategy.extended.should_checkpoint
        if save_path and self.chief:
            run_dir.prepare(save_path, config, corpus)
        elif save_path:
            run_dir.check(save_path, config, corpus)
        self.config, self.corpus, self.options = config, corpus, options
        self.command, self.strategy = command, strategy
        self.log = log
        self.epoch_log = log if options.verbosity >= 1 else _ignore
        self.bar_shown = options.verbosity >= 2 and options.progress_bar
        self.lines_shown = options.verbosity >= 2 and not options.progress_bar
        keras.utils.set_random_seed(options.seed)
        self.trainer = _trainer(config, options, strategy)
        self.model = self.trainer.model
        self.identity = run_dir.identity_of(config, corpus.vocab, corpus)
        self.state = checkpoints.RunState(self.model, config.max_max_epoch,
                                          config.batch_size, self.identity)
        self.saver = (checkpoints.Saver(self.model, self.trainer.optimizer,
                                        self.state, save_path, self.epoch_log,
                                        writes=self.chief)
                      if save_path else None)
        self.summaries = (Summaries(save_path) if save_path and self.chief
                          else None)
        self.preemption = None
        if save_path and isinstance(strategy,
                                    tf.distribute.MultiWorkerMirroredStrategy):
            self.preemption = distributed.PreemptionSaves(strategy,
                                                          self._save_now)
        ids, batch, steps = corpus.train, config.batch_size, config.num_steps
        self.batches = num_batches(len(ids), batch, steps)
        tenth = chunk_size(ids, batch, steps)
        self.save_every = options.checkpoint_every or tenth
        self.chunk = chunk_size(ids, batch, steps, options.checkpoint_every)
        if self.bar_shown:
            # A bar that moves about every 1% of the epoch (checkpoints keep
            # their own spacing).
            self.chunk = min(self.chunk, max(1, tenth // 10))
        self.restores = 0
        self._clock = time.perf_counter()
        # The epoch under way: set by _train_epoch.
        self.epoch, self.learning_rate = 0, 0.0
        self.epoch_start, self.start_batch, self.last_saved = 0.0, 0, 0
        self.bar: Optional[keras.utils.Progbar] = None
        self._progress: Optional[Progress] = None

    def run(self) -> Dict[str, Any]:
        """Trains to the last epoch, tests, and returns the results dict
        (also written to save_path/results.json). In a cluster, a lost
        worker ends it with a UserError saying how to resume."""
        try:
            return self._run()
        except distributed.PEER_LOST as error:
            if self.strategy is None:
                raise
            raise distributed.lost_peer(
                error, self.saver.latest_path if self.saver else None) from None

    def _run(self) -> Dict[str, Any]:
        self._resume_or_start()
        while int(self.state.epochs_done) < self.config.max_max_epoch:
            try:
                progress = self._train_epoch()
            except Diverged as error:
                self._recover(error)
                continue
            self._end_epoch(progress)
        return self._test_and_report()

    def _resume_or_start(self) -> None:
        latest = self.saver.latest_path if self.saver else None
        if self.strategy is not None:
            # Every worker has read the chief's latest checkpoint before
            # any of them writes one.
            distributed.barrier(self.strategy)
        if latest:
            path = self.saver.restore_latest(self.identity)
            epochs = self.config.max_max_epoch
            if int(self.state.epochs_done) == epochs:
                self.epoch_log(f"Resuming from {path}: all {epochs} epochs "
                               "done, testing")
            else:
                self.epoch_log(f"Resuming from {path}: epoch "
                               f"{int(self.state.epochs_done) + 1}, batch "
                               f"{int(self.state.batches_done)}")
        elif self.saver and self.options.on_nan == "restore":
            self.saver.save()  # something to go back to from the first batch

    def _train_epoch(self) -> Progress:
        """Trains the rest of the current epoch; returns its progress."""
        self.epoch = int(self.state.epochs_done)
        self.epoch_start = time.perf_counter()
        self.learning_rate = (learning_rate_for_epoch(self.config, self.epoch)
                              * float(self.state.learning_rate_factor))
        self.trainer.optimizer.learning_rate.assign(self.learning_rate)
        progress = self.state.progress()
        self.start_batch = self.last_saved = progress.done
        self.epoch_log(f"Epoch: {self.epoch + 1} Learning rate: "
                       f"{self.learning_rate:.3f}"
                       + (f" (from batch {progress.done} of {self.batches})"
                          if progress.done else ""))
        if self.bar_shown:
            self.bar = keras.utils.Progbar(
                self.batches, stateful_metrics=["perplexity", "words/s"])
            self.bar.update(progress.done)
        for progress, report in self.trainer.run_batches(
                self.corpus.train, self.config.batch_size,
                self.config.num_steps, True, progress, self.chunk):
            note = self._save_if_due(progress)
            self._report(report, note)
            if self.preemption:
                self._progress = progress  # what a preemption save records
                self.preemption.check()
        return progress

    def _save_if_due(self, progress: Progress) -> str:
        """Saves every save_every batches (at the first chunk end past each
        multiple) and once the epoch's batches are done (validation comes
        next); returns the progress line's note."""
        every = self.save_every
        if not self.saver or (progress.done < self.batches and
                              progress.done // every == self.last_saved // every):
            return ""
        if not checkpoints.weights_are_finite(self.model):
            # An update with a finite gradient still overflowed: treated as
            # a non-finite loss, and never saved.
            raise Diverged(progress.done)
        self.last_saved = progress.done
        return f" (saved {self._save_now(progress)})"

    def _save_now(self, progress: Optional[Progress] = None) -> str:
        """Records progress (that of the last chunk by default) and writes a
        checkpoint; returns its name."""
        self.state.record(progress or self._progress)
        self._account_time()
        return self.saver.save()

    def _report(self, report: ChunkReport, note: str) -> None:
        """The progress line or bar, and the chunk's summaries."""
        if self.lines_shown and report.line_due:
            self.log(report.line(note))
        if self.summaries:
            self.summaries.chunk(self.epoch * self.batches + report.done,
                                 report, self.learning_rate)
        if self.bar:
            self.bar.update(report.done, [
                ("perplexity", report.perplexity),
                ("words/s", report.words_per_second)])

    def _recover(self, error: Diverged) -> None:
        """Stops with a UserError, or (on_nan=restore) goes back to the
        latest checkpoint with half the learning rate."""
        where = f"epoch {self.epoch + 1}, batch {error.batch} of {self.batches}"
        if self.options.on_nan != "restore":
            raise UserError(
                f"training diverged: the loss or the weights became "
                f"non-finite at {where}; no checkpoint holds a non-finite "
                "value (the last good one is kept). Lower --learning_rate "
                "or --max_grad_norm, or pass --on_nan=restore") from None
        self.restores += 1
        if self.restores > MAX_RESTORES:
            raise UserError(
                f"training diverged at {where} again after {MAX_RESTORES} "
                "restores with ever lower learning rates; lower "
                "--learning_rate or --max_grad_norm") from None
        path = self.saver.restore_latest(self.identity)
        factor = self.state.learning_rate_factor
        factor.assign(factor * 0.5)
        self.epoch_log(f"Non-finite loss at {where}: restored {path} (epoch "
                       f"{int(self.state.epochs_done) + 1}, batch "
                       f"{int(self.state.batches_done)}) and halved the "
                       f"learning rate (factor {float(factor):g})")

    def _end_epoch(self, progress: Progress) -> None:
        """Validation, the epoch's history row, the best so far, a checkpoint."""
        config, epoch = self.config, self.epoch
        train_perplexity = math.exp(progress.cost
                                    / (self.batches * config.num_steps))
        self.epoch_log(f"Epoch: {epoch + 1} Train Perplexity: "
                       f"{train_perplexity:.3f}")
        valid = self.trainer.run_epoch(self.corpus.valid, config.batch_size,
                                       config.num_steps, train=False)
        self.epoch_log(f"Epoch: {epoch + 1} Valid Perplexity: "
                       f"{valid['perplexity']:.3f}")
        if self.summaries:
            self.summaries.epoch((epoch + 1) * self.batches, train_perplexity,
                                 valid["perplexity"])
        seconds = time.perf_counter() - self.epoch_start
        trained_words = ((self.batches - self.start_batch) * config.num_steps
                         * config.batch_size)
        self.state.history[epoch].assign([
            self.learning_rate, train_perplexity, valid["perplexity"],
            trained_words / max(seconds - valid["seconds"], 1e-9), seconds])
        if not math.isfinite(valid["perplexity"]):
            raise UserError(
                f"training diverged: the validation loss after epoch "
                f"{epoch + 1} is not finite; nothing of that epoch's end was "
                "saved. Lower --learning_rate or --max_grad_norm")
        improved = valid["perplexity"] < float(self.state.best_valid)
        if improved:
            self.state.best_valid.assign(valid["perplexity"])
        self.state.epochs_done.assign(epoch + 1)
        self.state.record(Progress(0, 0.0,
                                   self.model.zero_state(config.batch_size)))
        self._account_time()
        if self.saver:
            self.saver.save(best=improved)

    def _test_and_report(self) -> Dict[str, Any]:
        """The exact batch-1 test, its line, and the results dict."""
        start = time.perf_counter()
        test_perplexity = self.trainer.evaluate_exact(
            self.corpus.test, self.options.eval_window)
        test_seconds = time.perf_counter() - start
        if self.summaries:
            self.summaries.test(self.config.max_max_epoch * self.batches,
                                test_perplexity)
            self.summaries.close()
        unit = results_lib.token_unit(self.corpus)
        self.log(f"Test Perplexity: {test_perplexity:.3f} "
                 f"({math.log2(test_perplexity):.3f} bits per {unit})")
        self._account_time()
        results = results_lib.results_of(
            self, test_perplexity=test_perplexity, test_seconds=test_seconds,
            unit=unit)
        if self.saver and self.chief:
            results_lib.write_results(
                os.path.join(self.saver.save_path, "results.json"), results)
        return results

    def _account_time(self) -> None:
        """Adds the time since the last call to the run's wall clock."""
        now = time.perf_counter()
        self.state.wall_seconds.assign_add(now - self._clock)
        self._clock = now


def _trainer(config: Config, options: RunOptions,
             strategy: Optional[tf.distribute.Strategy]) -> Trainer:
    """A Trainer on a new model: on one device, or under `strategy`."""
    if strategy is None:
        return Trainer(build_model(config, options.rnn_mode, options.precision),
                       config, jit_compile=options.jit_compile)
    with strategy.scope():
        model = build_model(config, options.rnn_mode, options.precision)
    return distributed.DistributedTrainer(model, config, strategy)


def train_and_evaluate(config: Config, corpus: Corpus,
                       save_path: Optional[str] = None, seed: int = 0,
                       eval_window: int = 500, log: Log = print,
                       command: str = "", rnn_mode: str = AUTO,
                       jit_compile: bool = False,
                       precision: str = "float32", checkpoint_every: int = 0,
                       on_nan: str = "stop", verbosity: int = 2,
                       progress_bar: bool = False,
                       strategy: Optional[tf.distribute.Strategy] = None
                       ) -> Dict[str, Any]:
    """TrainingRun(...).run() with the run options as keywords (the
    notebooks' entry); see TrainingRun and ptb_tf.options.RunOptions."""
    options = RunOptions(
        rnn_mode=rnn_mode, precision=precision, jit_compile=jit_compile,
        seed=seed, eval_window=eval_window, checkpoint_every=checkpoint_every,
        on_nan=on_nan, verbosity=verbosity, progress_bar=progress_bar)
    return TrainingRun(config, corpus, save_path, options, log, command,
                       strategy).run()
