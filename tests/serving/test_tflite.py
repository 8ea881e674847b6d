"""The TFLite export: the step in LiteRT's interpreter against the SavedModel's,
and the generate and score tools on it."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import assert_last_line_error, output_lines, run_module

from ptb_tf.config import PRESETS
from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.serving import tflite_export
from ptb_tf.serving.module import ServingModule
from ptb_tf.serving.tflite_model import TFLiteModel


@pytest.fixture(scope="module")
def small_module(tmp_path_factory):
    """A ServingModule of the small config's shapes (weights as initialised)."""
    config = PRESETS["small"]
    model = PTBModel(config.vocab_size, config.hidden_size, config.num_layers)
    model(tf.zeros([1, 1], tf.int32))
    vocab_path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
    with open(vocab_path, "w") as vocab_file:
        vocab_file.write("".join(f"w{i}\n" for i in range(9998)) +
                         "<unk>\n<eos>\n")
    return ServingModule(model, vocab_path)


def run_step(flatbuffer, tmp_path, ids, state):
    path = tmp_path / "model.tflite"
    path.write_bytes(flatbuffer)
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
    interpreter = Interpreter(model_path=str(path))
    step = interpreter.get_signature_runner("step")(ids=ids, state=state)
    first = interpreter.get_signature_runner("next_log_probs")(state=state)
    return step, first["log_probabilities"]


@pytest.mark.slow
def test_float_and_int8_steps_of_the_small_model_match_the_saved_model(
        small_module, tmp_path):
    state = np.random.RandomState(0).uniform(
        -1, 1, [2, 2, 3, 200]).astype(np.float32)
    ids = np.array([0, 17, 9999], np.int32)
    want_log_probs, want_state = small_module.step_log_probs(
        tf.constant(ids), tf.constant(state))
    want_first = small_module.next_log_probs(tf.constant(state)).numpy()
    float_model = tflite_export.convert(small_module)
    step, first = run_step(float_model, tmp_path, ids, state)
    np.testing.assert_allclose(step["log_probabilities"], want_log_probs,
                               atol=1e-4)
    np.testing.assert_allclose(step["state"], want_state, atol=1e-4)
    np.testing.assert_allclose(first, want_first, atol=1e-4)
    int8_model = tflite_export.convert(small_module, quantize=True)
    assert len(int8_model) < 0.3 * len(float_model)
    step, _ = run_step(int8_model, tmp_path, ids, state)
    # int8 weights: close to float, not equal (the perplexity cost is
    # measured on PTB, results/tflite_small.*).
    difference = np.abs(step["log_probabilities"] - want_log_probs.numpy())
    assert 0 < difference.max() < 0.5


@pytest.fixture(scope="module")
def tflite_exports(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite")
    paths = {}
    for name, flags in (("float", []), ("int8", ["--quantize"])):
        result = run_module("export", f"--save_path={trained['save_path']}",
                            f"--export_dir={root / name}", "--format=tflite",
                            *flags)
        assert result.returncode == 0, result.stderr[-3000:]
        paths[name] = str(root / name)
    return paths


@pytest.mark.slow
def test_export_writes_a_version_folder_with_vocab_and_metadata(
        tflite_exports, trained):
    folder = os.path.join(tflite_exports["int8"], "1")
    assert sorted(os.listdir(folder)) == ["assets", "assets.extra",
                                          "model.tflite"]
    model = TFLiteModel(os.path.join(folder, "model.tflite"))
    assert model.metadata["quantized"] and model.metadata["format"] == "tflite"
    assert model.vocab == trained["vocab"]


@pytest.mark.slow
def test_tflite_signatures_equal_the_saved_model(tflite_exports, trained):
    sig = tf.saved_model.load(trained["path"]).signatures
    model = TFLiteModel(tflite_exports["float"]).signatures()
    words = [["the", "cat", "sat", "on"], ["a", "dog", "", ""]]
    for name in ("log_probability", "token_log_probabilities", "num_tokens"):
        np.testing.assert_allclose(model["score"](words=words)[name],
                                   sig["score"](words=tf.constant(words))[name],
                                   atol=1e-4, err_msg=name)
    state = sig["start_state"](batch_size=tf.constant(2))["state"]
    np.testing.assert_allclose(model["start_state"](batch_size=2)["state"],
                               state, atol=1e-5)
    got = model["score_from_state"](words=words, state=state)
    want = sig["score_from_state"](words=tf.constant(words), state=state)
    for name in ("token_log_probabilities", "state"):
        np.testing.assert_allclose(got[name], want[name], atol=1e-4,
                                   err_msg=name)


@pytest.mark.slow
def test_score_and_generate_take_a_tflite_export(tflite_exports, trained):
    text = "the cat sat on the mat\na dog saw the log\n"
    saved = output_lines(run_module(
        "score", f"--saved_model={trained['path']}", stdin=text))
    tflite = output_lines(run_module(
        "score", f"--tflite={tflite_exports['float']}", stdin=text))
    assert len(saved) == len(tflite) == 3
    assert float(saved[-1].split()[-1]) == pytest.approx(
        float(tflite[-1].split()[-1]), rel=1e-4)
    int8 = output_lines(run_module(
        "score", f"--tflite={tflite_exports['int8']}", stdin=text))
    assert float(int8[-1].split()[-1]) == pytest.approx(
        float(saved[-1].split()[-1]), rel=0.05)
    args = [f"--tflite={tflite_exports['float']}", "--prefix=the cat",
            "--num_words=5", "--seed=2"]
    first = output_lines(run_module("generate", *args))
    assert first == output_lines(run_module("generate", *args))
    assert len(first[0].split("\t")[1].split()) == 7
    beams = output_lines(run_module("generate", *args, "--beam_width=2"))
    assert len(beams) == 2


@pytest.mark.slow
def test_tflite_user_errors(tflite_exports, trained, tmp_path):
    assert_last_line_error(run_module("generate", f"--tflite={tmp_path}",
                                 "--prefix=the"), "is not a TFLite export")
    assert_last_line_error(run_module("generate", f"--tflite={tflite_exports['float']}",
                                 f"--saved_model={trained['path']}",
                                 "--prefix=the"), "pass exactly one of")
    assert_last_line_error(run_module("score"), "pass exactly one of --saved_model "
                      "(an export), --save_path (a training run) and --tflite")
    assert_last_line_error(run_module("export", f"--save_path={trained['save_path']}",
                                 f"--export_dir={tmp_path / 'x'}", "--quantize"),
                      "--quantize needs --format=tflite")
