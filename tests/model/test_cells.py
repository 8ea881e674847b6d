"""GRU and tanh-RNN cells: every path computes Keras's cell, and a run of each
trains, resumes, exports, generates and scores."""

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import (TINY_TEST, TINY_TRAIN, TINY_VALID,
                           assert_paths_agree, nth_line_in_epoch, run_module,
                           run_until, tiny_config, write_corpus)

from ptb_tf.model import recurrent
from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.training.run import train_and_evaluate


VOCAB, HIDDEN, LAYERS = 13, 6, 2
CELLS = ["gru", "rnn"]


def built(cell, rnn_mode="keras", **kwargs):
    model = PTBModel(VOCAB, HIDDEN, LAYERS, init_scale=0.3, cell=cell,
                     rnn_mode=rnn_mode, **kwargs)
    model(tf.zeros([1, 1], tf.int32))
    return model


@pytest.mark.parametrize("cell", CELLS)
def test_unrolled_scan_and_serving_paths_compute_the_keras_cell(cell, tmp_path):
    keras_model = built(cell)  # keras.layers.GRU / SimpleRNN themselves
    unrolled = built(cell, "unrolled")
    assert keras_model.zero_state(3).shape == (LAYERS, 1, 3, HIDDEN)
    ids = tf.constant(np.random.RandomState(0).randint(0, VOCAB, (3, 7)),
                      tf.int32)
    # The unrolled path, and the scan over a window of unknown length (what
    # serving runs), restore the keras mode's checkpoint and agree with it.
    state, expected_logits, expected_state = assert_paths_agree(
        unrolled, keras_model, ids, tmp_path)
    # The SavedModel's plain-TensorFlow stack, padding included.
    weights = recurrent.StackWeights.from_model(keras_model)
    padded = tf.concat([ids, tf.zeros([3, 2], tf.int32)], axis=1)
    mask = tf.concat([tf.ones([3, 7], tf.bool), tf.zeros([3, 2], tf.bool)], 1)
    outputs, served_state = recurrent.run_stack(weights, padded, mask, state)
    np.testing.assert_allclose(
        recurrent.log_softmax_logits(weights, outputs[:, :7]),
        tf.nn.log_softmax(expected_logits), atol=1e-5)
    np.testing.assert_allclose(served_state, expected_state, atol=1e-5)


def test_cells_differ_and_block_mode_is_lstm_only():
    ids = tf.constant([[1, 2, 3]])
    tf.keras.utils.set_random_seed(0)
    gru = built("gru")
    assert gru.rnn_layers[0].cell.bias.shape == (2, 3 * HIDDEN)
    assert built("rnn").rnn_layers[0].cell.kernel.shape == (HIDDEN, HIDDEN)
    assert built("lstm")(ids)[1].shape == (LAYERS, 2, 1, HIDDEN)
    with pytest.raises(ValueError, match="rnn_mode=block runs LSTM cells only"):
        PTBModel(VOCAB, HIDDEN, LAYERS, cell="gru", rnn_mode="block")
    with pytest.raises(ValueError, match="cell must be one of lstm, gru, rnn"):
        PTBModel(VOCAB, HIDDEN, LAYERS, cell="lstmp")


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_resume_mid_epoch_is_exact(corpus, tmp_path, cell):
    config = tiny_config(corpus, max_max_epoch=2, keep_prob=0.5, cell=cell)
    options = dict(rnn_mode="unrolled", jit_compile=True, checkpoint_every=3)
    straight = train_and_evaluate(config, corpus, save_path=str(tmp_path / "a"),
                                  log=lambda line: None, **options)
    resumed_path = str(tmp_path / "b")
    run_until(config, corpus, resumed_path, nth_line_in_epoch(2, 1, "(saved"),
              **options)
    lines = []
    resumed = train_and_evaluate(config, corpus, save_path=resumed_path,
                                 log=lines.append, **options)
    assert lines[0].startswith("Resuming from") and "epoch 2" in lines[0]
    assert resumed["epochs"] == [
        dict(epoch, epoch_seconds=resumed["epochs"][index]["epoch_seconds"],
             train_words_per_second=resumed["epochs"][index][
                 "train_words_per_second"])
        for index, epoch in enumerate(straight["epochs"])]
    assert resumed["test_perplexity"] == straight["test_perplexity"]


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru"])  # the CLI is the same for rnn
def test_test_config_trains_exports_generates_and_scores(tmp_path, cell):
    # The test config itself (batch 20), on a corpus just large enough for
    # it: the command-line tools, not the data, are under test here. (Resume
    # after a SIGKILL is the same code for every cell: test_reliability.py
    # kills an LSTM run; test_resume_mid_epoch_is_exact resumes each cell.)
    data = write_corpus(tmp_path / "data", train=TINY_TRAIN * 40,
                        valid=TINY_VALID * 20, test=TINY_TEST * 5)
    save_path = tmp_path / "run"
    result = run_module("train", f"--data_path={data}", "--model=test",
                        "--vocab_size=0", f"--cell={cell}",
                        "--rnn_mode=unrolled", f"--save_path={save_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    test_line = [line for line in result.stdout.splitlines()
                 if line.startswith("Test Perplexity:")][0]
    # One epoch of a 2-unit model: about uniform guessing over the 12 words
    # (the cells' maths is tested above; here the tools).
    assert 1 < float(test_line.split()[2]) < 24

    export_dir = tmp_path / "export"
    exported = run_module("export", f"--save_path={save_path}",
                   f"--export_dir={export_dir}")
    assert exported.returncode == 0, exported.stderr[-2000:]
    generated = run_module("generate", f"--saved_model={export_dir}",
                    "--prefix=the cat", "--num_words=5", "--seed=3")
    assert generated.returncode == 0, generated.stderr[-2000:]
    log_prob, text = generated.stdout.strip().split("\t")
    assert float(log_prob) < 0 and text.startswith("the cat ")
    assert len(text.split()) == 7
    # The checkpoint and the export agree on a score.
    line = "the cat sat on the mat\n"
    scores = [run_module("score", source, "--input=-", stdin=line).stdout.split("\t")
              for source in (f"--saved_model={export_dir}",
                             f"--save_path={save_path}")]
    assert scores[0][1] == "7"  # six words and <eos>
    assert float(scores[0][0]) == pytest.approx(float(scores[1][0]), abs=1e-3)
