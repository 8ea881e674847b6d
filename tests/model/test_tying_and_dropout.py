"""Weight tying, variational (locked) dropout and embedding dropout."""

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import tiny_config, train_tiny

from ptb_tf.model import recurrent
from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.training.models import load_model
from ptb_tf.training.run import train_and_evaluate


VOCAB, HIDDEN, LAYERS = 13, 6, 2


def built(**kwargs):
    model = PTBModel(VOCAB, HIDDEN, LAYERS, init_scale=0.3, **kwargs)
    model(tf.zeros([1, 1], tf.int32))
    return model


def ids(batch=3, time=5, seed=0):
    return tf.constant(np.random.RandomState(seed).randint(0, VOCAB,
                                                           (batch, time)),
                       tf.int32)


@pytest.mark.parametrize("rnn_mode", ["keras", "unrolled"])
def test_tied_softmax_is_the_embedding_transposed(rnn_mode):
    tied = built(tie_embeddings=True, rnn_mode=rnn_mode)
    untied = built(rnn_mode=rnn_mode)
    # One V x H matrix fewer; the softmax keeps a bias of its own.
    assert (sum(np.prod(v.shape) for v in untied.trainable_variables)
            - sum(np.prod(v.shape) for v in tied.trainable_variables)
            == HIDDEN * VOCAB)
    inputs = ids()
    outputs, _ = tied.features(inputs)
    logits, _ = tied(inputs)
    expected = (np.einsum("bth,vh->btv", outputs, tied.embedding.embeddings)
                + tied.softmax_bias.numpy())
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    # The embedding learns from both ends: a word never fed in still gets a
    # gradient through the softmax.
    with tf.GradientTape() as tape:
        logits, _ = tied(tf.zeros([1, 3], tf.int32))
        loss = tf.reduce_sum(tf.nn.log_softmax(logits)[..., 0])
    gradient = tf.convert_to_tensor(
        tape.gradient(loss, tied.embedding.embeddings))
    assert np.abs(gradient[1:]).max() > 0
    # The serving stack reads the tied weights too.
    weights = recurrent.StackWeights.from_model(tied)
    served, _ = recurrent.run_stack(weights, inputs, tf.ones_like(inputs, bool),
                                    tied.zero_state(3))
    np.testing.assert_allclose(recurrent.log_softmax_logits(weights, served),
                               tf.nn.log_softmax(tied(inputs)[0]), atol=1e-5)


@pytest.mark.slow
def test_tied_gru_run_saves_loads_and_exports(corpus, tmp_path):
    from ptb_tf.serving import saved_model  # pylint: disable=g-import-not-at-top
    from ptb_tf import run_dir  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.trainer import Trainer  # pylint: disable=g-import-not-at-top
    config = tiny_config(corpus, max_max_epoch=1, tie_embeddings=True,
                         cell="gru")
    save_path = str(tmp_path / "run")
    results = train_tiny(config, corpus, save_path=save_path,
                         log=lambda _: None)
    model = load_model(save_path)
    assert model.softmax is None and model.cell == "gru"
    # The loaded weights are the trained ones: the same test perplexity.
    again = Trainer(model, config).evaluate_exact(corpus.test, 7)
    assert again == pytest.approx(results["test_perplexity"], rel=1e-5)
    # The export scores a sentence as the model does.
    _, vocab_path = run_dir.load_run(save_path)
    path = saved_model.export(save_path, str(tmp_path / "export"), next_words=3)
    served = tf.saved_model.load(path).signatures["score"](
        words=tf.constant([["the", "cat", "sat", "<eos>"]]))
    ids = corpus.vocab.encode(["<eos>", "the", "cat", "sat", "<eos>"])
    logits, _ = model(ids[None, :-1])
    expected = tf.reduce_sum(tf.gather(tf.nn.log_softmax(logits[0]), ids[1:],
                                       batch_dims=1))
    assert float(served["log_probability"][0]) == pytest.approx(
        float(expected), abs=1e-4)


@pytest.mark.parametrize("dropout, same_over_time", [("variational", True),
                                                     ("standard", False)])
def test_variational_dropout_keeps_one_mask_per_sequence(dropout,
                                                         same_over_time):
    model = built(keep_prob=0.5, dropout=dropout)
    ones = tf.ones([4, 6, HIDDEN])
    for layer in [model.input_dropout] + model.output_dropouts:
        masked = layer(ones, training=True).numpy()
        assert set(np.unique(masked)) == {0.0, 2.0}
        over_time = np.all(masked == masked[:, :1], axis=1).all()
        assert over_time == same_over_time
        # Different sequences of the batch get different masks.
        assert not np.all(masked == masked[:1])
    # Off outside training.
    np.testing.assert_array_equal(model.input_dropout(ones, training=False),
                                  ones)


def test_embedding_dropout_drops_whole_words():
    model = built(embedding_dropout=0.5)
    inputs = tf.constant([[1, 2, 1, 3, 2, 1, 4, 5, 6, 7, 8, 9]] * 2)
    table = model.embedding.embeddings.numpy()
    seen = set()
    for _ in range(5):
        embedded = model.embed(inputs, training=True).numpy()
        for word in np.unique(inputs):
            rows = embedded[inputs.numpy() == word]
            # Every occurrence of a word shares its fate: all zeros, or all
            # the embedding scaled by 1 / (1 - 0.5).
            if np.all(rows == 0):
                seen.add("dropped")
            else:
                np.testing.assert_allclose(rows, np.broadcast_to(
                    2 * table[word], rows.shape), rtol=1e-6)
                seen.add("kept")
    assert seen == {"dropped", "kept"}
    np.testing.assert_array_equal(model.embed(inputs), table[inputs.numpy()])


@pytest.mark.slow
def test_regularised_tied_model_trains(corpus):
    config = tiny_config(corpus, max_max_epoch=10, max_epoch=10,
                         init_scale=0.3, hidden_size=16, tie_embeddings=True,
                         dropout="variational", keep_prob=0.8,
                         embedding_dropout=0.1)
    results = train_and_evaluate(config, corpus, log=lambda _: None,
                                 rnn_mode="unrolled", jit_compile=True)
    # Far below guessing uniformly over the tiny vocabulary.
    assert results["valid_perplexity"] < 0.7 * len(corpus.vocab)
