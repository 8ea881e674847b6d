"""TensorBoard scalars of a training run: `tensorboard --logdir=SAVE_PATH/logs`.

Written with tf.summary.write (the `tensorboard` package is needed only to
look at them, not to write them). The x axis is the global batch: epoch * batches_per_epoch + batch.

    train/loss                  mean NLL per word of each compiled chunk
    train/perplexity            exp(train/loss)
    train/gradient_global_norm  mean global gradient norm before clipping
    train/words_per_second      of the epoch so far
    train/learning_rate         the learning rate of the epoch
    train/epoch_perplexity      the epoch's training perplexity (at its end)
    valid/perplexity            after each epoch
    test/perplexity             the exact test evaluation, at the end

A run resumed after a crash writes again the scalars of the batches it
repeats, at the same steps (TensorBoard shows the latest).
"""

import contextlib
import glob
import math
import os
from typing import Dict, List, Tuple

import tensorflow as tf

from ptb_tf.errors import UserError, reason

LOG_DIR = "logs"

_SCALAR_METADATA = tf.compat.v1.SummaryMetadata(
    plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=1,  # DATA_CLASS_SCALAR of tensorflow/core/framework/summary.proto
).SerializeToString()


class Summaries:
    """A run's tf.summary writer; every method takes the global batch step."""

    def __init__(self, save_path: str):
        self.directory = os.path.join(save_path, LOG_DIR)
        existed = os.path.isdir(self.directory)
        before = set(os.listdir(self.directory)) if existed else set()
        try:
            with self._writing():
                self.writer = tf.summary.create_file_writer(self.directory)
        except UserError:
            # A full disk: the writer may have left an empty events file
            # (and its folder); they would only keep the disk fuller.
            if os.path.isdir(self.directory):
                for name in set(os.listdir(self.directory)) - before:
                    os.remove(os.path.join(self.directory, name))
                if not existed:
                    os.rmdir(self.directory)
            raise

    @contextlib.contextmanager
    def _writing(self):
        """A full disk (or a folder gone) is one line, not a traceback."""
        try:
            yield
        except (tf.errors.OpError, OSError) as error:
            raise UserError(f"cannot write TensorBoard summaries in "
                            f"{self.directory}: {reason(error)}; free space "
                            "and run the same command again (the latest "
                            "checkpoint is kept)") from None

    def _scalars(self, step: int, values) -> None:
        with self._writing(), self.writer.as_default(step=step):
            for name, value in values.items():
                # tf.summary.scalar itself lives in the tensorboard package;
                # this writes the same record (a float32 scalar tagged for
                # the scalars plugin) with TensorFlow alone.
                tf.summary.write(name, tf.constant(value, tf.float32),
                                 metadata=_SCALAR_METADATA)

    def chunk(self, step: int, report, learning_rate: float) -> None:
        """A training chunk: a training.ChunkReport."""
        self._scalars(step, {
            "train/loss": report.chunk_loss,
            "train/perplexity": math.exp(min(report.chunk_loss, 700.0)),
            "train/gradient_global_norm": report.gradient_norm,
            "train/words_per_second": report.words_per_second,
            "train/learning_rate": learning_rate,
        })

    def epoch(self, step: int, train_perplexity: float,
              valid_perplexity: float) -> None:
        self._scalars(step, {"train/epoch_perplexity": train_perplexity,
                             "valid/perplexity": valid_perplexity})
        with self._writing():
            self.writer.flush()

    def test(self, step: int, perplexity: float) -> None:
        self._scalars(step, {"test/perplexity": perplexity})
        with self._writing():
            self.writer.flush()

    def close(self) -> None:
        with self._writing():
            self.writer.close()


def read_scalars(logdir: str) -> Dict[str, List[Tuple[int, float]]]:
    """tag -> [(step, value), ...] from the event files in logdir (e.g.
    SAVE_PATH/logs), in the order written; no tensorboard package needed."""
    found = {}
    for path in sorted(glob.glob(os.path.join(logdir,
                                              "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (int(event.step), float(tf.make_ndarray(value.tensor))))
    return found
