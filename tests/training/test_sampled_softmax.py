"""Sampled softmax: the log-uniform sampler, the loss's gradient, training,
and the synthetic Zipf corpus of its benchmark."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from ptb_tf import sampled_benchmark
from ptb_tf.config import Config
from ptb_tf.errors import UsageError
from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.training.losses import log_uniform_candidates, log_uniform_expected_count, sampled_cost, sequence_cost
from ptb_tf.training.run import train_and_evaluate


def test_candidates_follow_the_log_uniform_distribution():
    import keras  # pylint: disable=g-import-not-at-top
    vocab = 20
    draws = log_uniform_candidates(200000, vocab,
                                   keras.random.SeedGenerator(1)).numpy()
    assert draws.min() >= 0 and draws.max() < vocab
    frequencies = np.bincount(draws, minlength=vocab) / len(draws)
    ranks = np.arange(vocab)
    expected = np.log((ranks + 2) / (ranks + 1)) / np.log(vocab + 1)
    np.testing.assert_allclose(frequencies, expected, atol=0.004)


def test_expected_counts_are_those_of_tensorflows_sampler():
    labels = tf.constant([[0], [3], [9]], tf.int64)
    sampled, true_count, sampled_count = tf.random.log_uniform_candidate_sampler(
        labels, num_true=1, num_sampled=16, unique=False, range_max=50, seed=3)
    np.testing.assert_allclose(log_uniform_expected_count(labels, 16, 50),
                               true_count, rtol=1e-5)
    np.testing.assert_allclose(log_uniform_expected_count(sampled, 16, 50),
                               sampled_count, rtol=1e-5)


@pytest.mark.parametrize("tie_embeddings", [False, True])
def test_gradient_approaches_the_full_softmax_gradient(tie_embeddings):
    model = PTBModel(13, 6, 1, init_scale=0.5, tie_embeddings=tie_embeddings)
    model(tf.zeros([1, 1], tf.int32))
    inputs = tf.constant(np.random.RandomState(0).randint(0, 13, (2, 4)),
                         tf.int32)
    targets = tf.roll(inputs, -1, axis=1)

    def gradient(cost_of):
        with tf.GradientTape() as tape:
            cost = cost_of()
        return np.concatenate([
            tf.reshape(tf.convert_to_tensor(gradient), [-1]).numpy()
            for gradient in tape.gradient(cost, model.trainable_variables)])

    full = gradient(lambda: sequence_cost(model(inputs)[0], targets))
    # Importance sampling of the normaliser: with many candidates the
    # sampled loss's gradient is the full softmax's.
    many = gradient(lambda: sampled_cost(model, model.features(inputs)[0],
                                         targets, 100000))
    cosine = np.dot(full, many) / np.linalg.norm(full) / np.linalg.norm(many)
    assert cosine > 0.999
    np.testing.assert_allclose(many, full, atol=0.05 * np.abs(full).max())
    # With few, only an estimate.
    few = gradient(lambda: sampled_cost(model, model.features(inputs)[0],
                                        targets, 3))
    assert np.abs(few - full).max() > 1e-3


@pytest.mark.slow
def test_sampled_training_learns_and_evaluates_with_the_full_softmax():
    # A Zipfian text, the regime sampling is for (on the 12-word tiny corpus
    # a log-uniform sample of the vocabulary is no estimate of anything).
    corpus = sampled_benchmark.synthetic_corpus(60000, 2000, seed=0)
    config = Config(num_layers=1, hidden_size=32, num_steps=10, batch_size=20,
                    max_epoch=2, max_max_epoch=2, vocab_size=len(corpus.vocab),
                    softmax="sampled", num_sampled=64)
    results = train_and_evaluate(config, corpus, log=lambda _: None,
                                 rnn_mode="unrolled", jit_compile=True)
    # Full-softmax perplexities well below what word frequencies alone give:
    # trained on samples, the model learned the successors too.
    unigram = sampled_benchmark.unigram_perplexity(corpus)
    assert results["valid_perplexity"] < 0.5 * unigram
    assert results["test_perplexity"] < 0.5 * unigram


def test_num_sampled_must_be_below_the_vocabulary():
    with pytest.raises(UsageError, match="must be below the vocabulary size"):
        Config(vocab_size=100, softmax="sampled", num_sampled=100).validate()
    Config(vocab_size=100, softmax="full", num_sampled=100).validate()


def test_benchmark_text_is_zipfian_with_successors():
    text = sampled_benchmark.zipf_text(20000, 500, seed=0)
    counts = np.bincount(text, minlength=500)
    # The most frequent words are the first ranks (successors blur the tail).
    assert counts[0] > counts[10] > counts[300]
    # Half the words follow their predecessor's fixed successor.
    pairs = {}
    for previous, word in zip(text[:-1], text[1:]):
        pairs.setdefault(previous, []).append(word)
    top_share = np.mean([max(np.bincount(words)) / len(words)
                         for words in pairs.values() if len(words) >= 20])
    assert 0.45 < top_share < 0.65
    corpus = sampled_benchmark.synthetic_corpus(3000, 200, seed=0)
    assert len(corpus.train) == 3000 and len(corpus.valid) == 300
    # Frequency-sorted, as the log-uniform sampler assumes.
    counts = np.bincount(corpus.train, minlength=len(corpus.vocab))
    assert np.all(np.diff(counts[:-1]) <= 0)


@pytest.mark.slow
def test_benchmark_times_both_softmaxes_in_alternating_windows():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    corpus = sampled_benchmark.synthetic_corpus(4000, 300, seed=0)
    base = Config(num_layers=1, hidden_size=8, num_steps=5, batch_size=4,
                  vocab_size=len(corpus.vocab), num_sampled=16)
    configs = {name: dataclasses.replace(base, softmax=name)
               for name in ("full", "sampled")}
    times, ratio = sampled_benchmark.paired_rates(tf, corpus, configs,
                                                  "unrolled", windows=3,
                                                  batches=2)
    assert [len(times[name]) for name in configs] == [3, 3]
    assert all(value > 0 for name in configs for value in times[name])
    assert ratio > 0
