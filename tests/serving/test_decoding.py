"""The sampler and beam search, driven by stub log-probability functions."""

import numpy as np
import tensorflow as tf

from ptb_tf.serving import decoding


def log_softmax(rows):
    rows = np.asarray(rows, np.float64)
    return (rows - np.log(np.exp(rows).sum(-1, keepdims=True))).astype(np.float32)


def test_top_k_filter():
    log_probs = tf.constant([[0.0, 3.0, 1.0, 2.0]])
    kept = decoding.top_k_filter(log_probs, tf.constant(2)).numpy()
    np.testing.assert_array_equal(kept, [[-np.inf, 3.0, -np.inf, 2.0]])
    np.testing.assert_array_equal(
        decoding.top_k_filter(log_probs, tf.constant(0)).numpy(), log_probs)
    np.testing.assert_array_equal(
        decoding.top_k_filter(log_probs, tf.constant(99)).numpy(), log_probs)


def test_sample_next_frequencies_seed_and_top_k():
    probabilities = np.array([0.5, 0.3, 0.2, 0.0001])
    log_probs = tf.constant(log_softmax(np.log(np.tile(probabilities, (20000, 1)))))
    seed = tf.constant([1, 2])
    ids = decoding.sample_next(log_probs, 1.0, tf.constant(0), seed).numpy()
    frequencies = np.bincount(ids, minlength=4) / len(ids)
    np.testing.assert_allclose(frequencies, probabilities, atol=0.015)
    again = decoding.sample_next(log_probs, 1.0, tf.constant(0), seed).numpy()
    np.testing.assert_array_equal(ids, again)  # same seed, same sample
    other = decoding.sample_next(log_probs, 1.0, tf.constant(0),
                                 tf.constant([1, 3])).numpy()
    assert (other != ids).any()
    top2 = decoding.sample_next(log_probs, 1.0, tf.constant(2), seed).numpy()
    assert set(np.unique(top2)) == {0, 1}
    np.testing.assert_allclose((top2 == 0).mean(), 0.5 / 0.8, atol=0.015)
    # A low temperature is almost greedy; top_k=1 is greedy.
    cold = decoding.sample_next(log_probs, 0.05, tf.constant(0), seed).numpy()
    assert (cold == 0).mean() > 0.99
    greedy = decoding.sample_next(log_probs, 1.0, tf.constant(1), seed).numpy()
    assert (greedy == 0).all()


# A stub model over 3 words: after word w the next word is (w + 1) % 3 with
# probability 0.6, each other with 0.2. Its state counts the steps taken.
CHAIN = log_softmax(np.log([[0.2, 0.6, 0.2], [0.2, 0.2, 0.6], [0.6, 0.2, 0.2]]))


def chain_step(ids, state):
    return tf.gather(tf.constant(CHAIN), ids), state + 1


def test_sample_sequence_greedy_follows_the_chain_and_sums_log_probs():
    first = tf.constant(CHAIN[[0, 2]])  # two rows: after word 0 and word 2
    ids, total = decoding.sample_sequence(
        chain_step, first, tf.zeros([2]), tf.constant(4), tf.constant(1.0),
        tf.constant(1), tf.constant(0, tf.int64))
    np.testing.assert_array_equal(ids.numpy(), [[1, 2, 0, 1], [0, 1, 2, 0]])
    np.testing.assert_allclose(total.numpy(), 4 * np.log(0.6), rtol=1e-5)


def test_sample_sequence_total_is_the_log_prob_of_what_was_sampled():
    ids, total = decoding.sample_sequence(
        chain_step, tf.constant(CHAIN[[0]]), tf.zeros([1]), tf.constant(6),
        tf.constant(1.7), tf.constant(0), tf.constant(5, tf.int64))
    previous = [0] + list(ids.numpy()[0][:-1])
    expected = sum(CHAIN[p, n] for p, n in zip(previous, ids.numpy()[0]))
    np.testing.assert_allclose(total.numpy()[0], expected, rtol=1e-5)


# A stub where greedy is not best: first word 0 (p 0.5) leads to a flat
# distribution, first word 1 (p 0.4) to a sure second word.
def trap_step(ids, state):
    rows = {0: [0.34, 0.33, 0.33], 1: [0.02, 0.02, 0.96], 2: [1 / 3] * 3}
    return tf.constant(log_softmax(np.log([rows[int(i)] for i in ids]))), state


def test_beam_search_finds_what_greedy_misses_and_is_sorted():
    first = log_softmax(np.log([[0.5, 0.4, 0.1]]))
    state = tf.zeros([1, 1, 1, 1])
    greedy = decoding.beam_search(trap_step, first, state, 1, 2)
    assert [ids for ids, _ in greedy] == [[0, 0]]
    beams = decoding.beam_search(trap_step, first, state, 3, 2)
    assert beams[0][0] == [1, 2]
    np.testing.assert_allclose(beams[0][1], np.log(0.4 * 0.96), rtol=1e-5)
    scores = [score for _, score in beams]
    assert scores == sorted(scores, reverse=True) and len(beams) == 3
    for ids, score in beams:
        log_probs = first[0, ids[0]] + trap_step([ids[0]], None)[0].numpy()[0, ids[1]]
        np.testing.assert_allclose(score, log_probs, rtol=1e-5)


def test_beam_search_reorders_the_state_with_the_beams():
    seen = []

    def step(ids, state):
        seen.append(state.numpy()[0, 0, :, 0].tolist())
        return tf.constant(np.tile(CHAIN[0], (len(ids), 1))), state + 1

    state = tf.constant(np.arange(1.0).reshape(1, 1, 1, 1))
    decoding.beam_search(step, CHAIN[[0]], state, 2, 2)
    assert seen[0] == [0.0, 0.0]  # both beams come from the one start state
