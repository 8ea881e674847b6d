"""tf.data input pipelines: the tutorial's `ptb_producer` and exact evaluation."""

import numpy as np
import tensorflow as tf

from ptb_tf.corpus.layout import batchify, num_batches


def window_dataset(ids: np.ndarray, batch_size: int,
                   num_steps: int) -> tf.data.Dataset:
    """Yields exactly the batches of the tutorial's `reader.ptb_producer`.

    ids: int [num_tokens] -> elements (inputs, targets), each
    int32 [batch_size, num_steps]; batch i holds columns
    i*num_steps .. (i+1)*num_steps of the batchified corpus, targets shifted by
    one. No shuffling: row b of batch i+1 continues row b of batch i, which is
    what lets the recurrent state carry over. The tail that does not fill a
    window is dropped.

        rows (batch_size 2):  a b c d e f g      num_steps 3
                              h i j k l m n
        batch 0: inputs [[a b c] [h i j]]  targets [[b c d] [i j k]]
        batch 1: inputs [[d e f] [k l m]]  targets [[e f g] [l m n]]
    """
    data = batchify(np.asarray(ids, np.int32), batch_size)
    count = num_batches(len(ids), batch_size, num_steps)
    width = count * num_steps

    def windows(columns: np.ndarray) -> np.ndarray:
        # [batch, count * num_steps] -> [count, batch, num_steps]
        return columns.reshape(batch_size, count, num_steps).transpose(1, 0, 2)

    inputs = windows(data[:, :width])
    targets = windows(data[:, 1:width + 1])
    return without_autotune(tf.data.Dataset.from_tensor_slices(
        (inputs, targets)).prefetch(2))


def chunk_dataset(ids: np.ndarray, batch_size: int, num_steps: int,
                  size: int, start: int = 0) -> tf.data.Dataset:
    """window_dataset's batches from batch `start` on, `size` at a time.

    ids: int [num_tokens] -> elements (inputs, targets, count): inputs and
    targets int32 [size, batch_size, num_steps], and count int32 [] the real
    batches in the group. The last group is padded with zeros after its
    `count` real batches, so every group has the same shape and a compiled
    (XLA) loop over a group is compiled once. A run resumed at `start` sees
    the same groups as one that never stopped, as long as `start` is a
    multiple of `size`.
    """
    windows = window_dataset(ids, batch_size, num_steps).skip(start)

    def pad(inputs, targets):
        count = tf.shape(inputs)[0]
        padding = [[0, size - count], [0, 0], [0, 0]]
        shape = [size, batch_size, num_steps]
        return (tf.ensure_shape(tf.pad(inputs, padding), shape),
                tf.ensure_shape(tf.pad(targets, padding), shape), count)

    # window_dataset's options (no autotuning) carry over.
    return windows.batch(size).map(pad).prefetch(2)


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """dataset with tf.data's autotuning off, for all of its pipeline.

    Its thread sleeps 10 ms, then 20, 40, ... from the iterator's start,
    and deleting the iterator waited for the sleep under way: a test config
    epoch of 7 s of work read 10.2 s, the end of the sleep that ends at
    10.23 s, in 7 of 8 epochs (20.5 s in earlier runs). These pipelines
    slice arrays already in memory: there is nothing for it to tune.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def sequential_windows(ids: np.ndarray, window: int):
    """Every prediction of the corpus once, in order, at batch size 1.

    ids: int [num_tokens] -> a list of one or two (inputs, targets) pairs,
    int32 [windows, 1, length]: first all full windows of `window` tokens,
    then, if the corpus does not fill them, one shorter window with the rest.
    With the state carried from window to window this scores the same
    num_tokens - 1 predictions as the tutorial's batch-1, step-1 test run, in
    far fewer steps; the last window is shorter instead of dropped.
    """
    ids = np.asarray(ids, np.int32)
    inputs, targets = ids[:-1], ids[1:]
    full = len(inputs) // window * window
    parts = []
    if full:
        parts.append((inputs[:full].reshape(-1, 1, window),
                      targets[:full].reshape(-1, 1, window)))
    if full < len(inputs):
        parts.append((inputs[None, None, full:], targets[None, None, full:]))
    return parts
