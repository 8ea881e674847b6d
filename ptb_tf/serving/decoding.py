"""Choosing next words: temperature and top-k sampling, greedy, beam search.

Each function takes a `step_fn(ids, state) -> (log_probs, state)` instead of
a model, so tests drive it with a stub and the SavedModel drives it with the
LSTM:

    ids:       int32 [batch]              the words just chosen
    log_probs: float32 [batch, vocab]     log-probabilities of the next word
    state:     whatever the model carries, batch on axis 2 for beam search
"""

from typing import Callable, List, Tuple

import numpy as np
import tensorflow as tf

StepFn = Callable[[tf.Tensor, tf.Tensor], Tuple[tf.Tensor, tf.Tensor]]


def top_k_filter(log_probs, top_k):
    """Keeps the top_k largest entries per row, the rest -inf; top_k <= 0 keeps all.

    log_probs: float32 [batch, vocab]; top_k: int32 [].
    """
    vocab_size = tf.shape(log_probs)[-1]

    def filtered():
        kth_largest = tf.math.top_k(
            log_probs, tf.minimum(top_k, vocab_size)).values[:, -1:]
        return tf.where(log_probs < kth_largest,
                        tf.constant(-np.inf, log_probs.dtype), log_probs)

    # Keeping all needs no top_k: a sort of the whole vocabulary per row,
    # per generated word.
    return tf.cond((top_k > 0) & (top_k < vocab_size), filtered,
                   lambda: log_probs)


def sample_next(log_probs, temperature, top_k, seed):
    """Draws one id per row from softmax(top_k_filter(log_probs) / temperature).

    log_probs: float32 [batch, vocab]; temperature: float32 [] > 0;
    top_k: int32 []; seed: int32 or int64 [2]. Same seed, same ids.
    Returns int32 [batch].
    """
    logits = top_k_filter(log_probs, top_k) / temperature
    return tf.cast(tf.random.stateless_categorical(logits, 1, seed)[:, 0],
                   tf.int32)


def sample_sequence(step_fn: StepFn, log_probs, state, num_words, temperature,
                    top_k, seed):
    """Samples num_words words per row, feeding each one back in.

    log_probs: float32 [batch, vocab] for the first word; num_words: int32 [];
    seed: int64 []. Returns ids int32 [batch, num_words] and their total
    log-probability under the model (before temperature and top-k) float32
    [batch].
    """
    batch_size = tf.shape(log_probs)[0]
    seed = tf.cast(seed, tf.int64)

    def body(index, log_probs, state, chosen, total):
        ids = sample_next(log_probs, temperature, top_k,
                          tf.stack([seed, tf.cast(index, tf.int64)]))
        total += tf.gather(log_probs, ids, batch_dims=1)
        chosen = chosen.write(index, ids)
        log_probs, state = step_fn(ids, state)
        return index + 1, log_probs, state, chosen, total

    _, _, _, chosen, total = tf.while_loop(
        lambda index, *_: index < num_words, body,
        (tf.constant(0), log_probs, state,
         tf.TensorArray(tf.int32, size=num_words),
         tf.zeros([batch_size], tf.float32)))
    return tf.transpose(chosen.stack()), total


def beam_search(step_fn: StepFn, log_probs, state, beam_width: int,
                num_words: int) -> List[Tuple[List[int], float]]:
    """The beam_width most probable continuations of num_words words.

    log_probs: [1, vocab] for the first word; state: the model's state for one
    sequence, batch on axis 2 (batch 1). Returns (ids, total log-probability)
    pairs, best first. Beam width 1 is greedy decoding.
    """
    log_probs = np.asarray(log_probs)
    vocab_size = log_probs.shape[-1]
    sequences = [[]]
    scores = np.zeros([1])
    for _ in range(num_words):
        candidates = (scores[:, None] + log_probs).ravel()  # [beams * vocab]
        best = np.argsort(-candidates, kind="stable")[:beam_width]
        parents, words = best // vocab_size, best % vocab_size
        sequences = [sequences[parent] + [int(word)]
                     for parent, word in zip(parents, words)]
        scores = candidates[best]
        state = tf.gather(state, parents, axis=2)
        log_probs, state = step_fn(tf.constant(words, tf.int32), state)
        log_probs = np.asarray(log_probs)
    return list(zip(sequences, scores.tolist()))
