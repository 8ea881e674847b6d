"""The training losses: the tutorial's sequence cost and a sampled softmax."""

import math

import keras
import tensorflow as tf

from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.model.recurrent import shifted_exp


def sequence_cost(logits: tf.Tensor, targets: tf.Tensor,
                  autodiff: bool = False) -> tf.Tensor:
    """The tutorial's cost: sum over time of the batch-mean negative log-likelihood.

    logits: float [batch, time, vocab]; targets: int32 [batch, time] -> float32 [].
    Its gradient, not that of a per-token mean, is what the tutorial's
    learning rate of 1.0 and clipping norm were tuned for. autodiff: leave
    the gradient to autodiff of logsumexp(logits) - logits[target] instead of
    token_nll's: XLA ran that form ~12% faster (test config shapes), the
    graph executor runs token_nll's faster.
    """
    logits = tf.cast(logits, tf.float32)
    if autodiff:
        # -log softmax(logits)[target] = logsumexp(logits) - logits[target]:
        # the same value and gradient as sparse_softmax_cross_entropy_with_logits,
        # in fewer passes over the [batch, time, vocab] logits (measured 1.4-1.6x
        # faster here, with and without XLA). XLA keeps the max pass here:
        # shifted_exp's branch made the test config's softmax layer slower
        # under XLA (0.58 against 0.41-0.45 ms a step).
        target_logits = tf.gather(logits, targets, batch_dims=2)
        nll = tf.reduce_logsumexp(logits, axis=-1) - target_logits
    else:
        nll = token_nll(logits, targets)
    return tf.reduce_sum(nll) / tf.cast(tf.shape(targets)[0], tf.float32)


@tf.custom_gradient
def token_nll(logits: tf.Tensor, targets: tf.Tensor):
    """-log softmax(logits)[target] float32 [...], for logits float32
    [..., vocab] and targets int32 [...] of static rank.

    The gradient, softmax(logits) - one_hot(target) times the upstream one,
    is written out: autodiff of the gather that picks the target logits
    builds a dense [..., vocab] gradient with UnsortedSegmentSum (one thread,
    zero-filled: 31 of a medium bf16 batch's ~700 ms of op time, profiled)
    and adds it to the softmax's. Here the softmax term reuses the forward
    pass's exponentials and the targets' term is subtracted in place. The
    logits are not shifted by their maximum unless exp needs it
    (`shifted_exp`).
    """
    exp, total, top = shifted_exp(logits)
    target_logits = tf.gather(logits, targets, batch_dims=len(targets.shape))
    nll = tf.squeeze(tf.math.log(total) + top, -1) - target_logits

    def gradient(upstream):
        rows = tf.reshape(exp * (upstream[..., None] / total),
                          [-1, tf.shape(logits)[-1]])
        rows = subtract_at_columns(rows, tf.reshape(targets, [-1]),
                                   tf.reshape(upstream, [-1]))
        return tf.reshape(rows, tf.shape(logits)), None

    return nll, gradient


def subtract_at_columns(rows, columns, values):
    """rows float32 [n, vocab] with values[k] subtracted at [k, columns[k]].

    rows must be a tensor that nothing else reads: with n known when
    tracing, the subtraction is made in rows' own buffer (InplaceSub on a
    flat view). TensorScatterSub, the safe op, copies all of rows first
    on the CPU, where it never takes over its input's buffer: 1.6 ms of op
    time a small bf16 batch to update 400 of 4 million entries, profiled.
    columns int32 [n], values float32 [n].
    """
    n, vocab = rows.shape
    if n is None or vocab is None or n * vocab >= 2**31:  # int32 positions
        return tf.tensor_scatter_nd_sub(
            rows, tf.stack([tf.range(tf.shape(rows)[0]), columns], 1), values)
    flat = tf.raw_ops.InplaceSub(x=tf.reshape(rows, [-1, 1]),
                                 i=tf.range(n) * vocab + columns,
                                 v=values[:, None])
    return tf.reshape(flat, [n, vocab])


# Hidden sizes up to this get narrow_sequence_cost under XLA: the test
# config's training ran 1.77x, 1.20x, 1.14x and 1.35x as fast with it at 2, 4,
# 6 and 8 hidden units, 0.95x at 12 and 0.91-1.10x above (paired rounds of
# speed.train_rate, 2-core Zen 4).
NARROW_HIDDEN = 8


def narrow_sequence_cost(outputs: tf.Tensor, kernel: tf.Tensor,
                         bias: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """sequence_cost of the logits outputs @ kernel + bias, in a form for
    XLA and a hidden size of a few units (the tutorial's test config: 2).

    outputs: float [batch, time, hidden]; kernel float32 [hidden, vocab];
    bias float32 [vocab]; targets int32 [batch, time] -> float32 [].
    With 2 hidden units nearly all of a step is the [batch * time, vocab]
    softmax, and XLA runs a dot of inner dimension 2 as a separate pass
    and call. Here the logits are the hidden units' broadcast products
    summed, which XLA fuses into the exp pass, and the gradient is written
    out; at the test config's shapes the softmax layer's forward and
    backward took 0.27 ms a step against 0.50 for sequence_cost's XLA form
    (a scratch loop of 2,000 steps, a quiet 2-core Zen 4).
    """
    hidden = kernel.shape[0]
    rows = tf.reshape(tf.cast(outputs, tf.float32), [-1, hidden])
    # Read as tensors: a custom gradient of variables must say so.
    nll = _narrow_token_nll(rows, tf.convert_to_tensor(kernel),
                            tf.convert_to_tensor(bias),
                            tf.reshape(targets, [-1]))
    return tf.reduce_sum(nll) / tf.cast(tf.shape(targets)[0], tf.float32)


@tf.custom_gradient
def _narrow_token_nll(rows, kernel, bias, ids):
    """-log softmax(rows @ kernel + bias)[ids] float32 [n], for rows float32
    [n, hidden], kernel [hidden, vocab], bias [vocab], ids int32 [n].

    The logits are not shifted by their maximum: a pass to find it cost
    as much as a third of the layer (0.34 against 0.27 ms a step) and a
    branch to use it only when needed (`shifted_exp`) more. A row whose
    sum of exponentials leaves [1e-20, 1e30] (every logit below about
    -46, or one above about 69: a diverged model, when the hidden units are
    few) gets the cost NaN instead of a rounded one, so that training stops
    there as diverged; inside that range every term of the sum within
    float32's precision of the largest is a normal float32, even where
    denormals are flushed to zero.
    """
    logits = bias
    for unit in range(rows.shape[-1]):
        logits = logits + rows[:, unit:unit + 1] * kernel[unit]
    exp = tf.exp(logits)
    sums = tf.reduce_sum(exp, -1)
    # The targets' logits from their kernel columns, not the [n, vocab] logits.
    target_columns = tf.transpose(tf.gather(kernel, ids, axis=1))  # [n, hidden]
    target_logits = (tf.reduce_sum(rows * target_columns, -1)
                     + tf.gather(bias, ids))
    in_range = (sums > 1e-20) & (sums < 1e30)
    nll = tf.where(in_range, tf.math.log(sums) - target_logits, float("nan"))

    def gradient(upstream):
        logits_grad = (exp * (upstream / sums)[:, None]
                       - tf.one_hot(ids, tf.shape(exp)[-1]) * upstream[:, None])
        return (tf.matmul(logits_grad, kernel, transpose_b=True),
                tf.matmul(rows, logits_grad, transpose_a=True),
                tf.reduce_sum(logits_grad, 0), None)

    return nll, gradient


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
