"""The export under TensorFlow Serving's loader: the C++ LoadSavedModel
through the C API (ptb_tf/serving/c_api_loader.py), against tf.saved_model.load."""

import numpy as np
import pytest
import tensorflow as tf

from ptb_tf.serving.c_api_loader import CApiError, CApiSavedModel


WORDS = [["the", "cat", "sat", "on", "the", "mat"],
         ["a", "dog", "", "", "", ""],
         ["zebra", "saw", "the", "log", "<eos>", ""]]


@pytest.fixture(scope="module")
def both(trained):
    with CApiSavedModel(trained["path"]) as c_model:
        yield c_model, tf.saved_model.load(trained["path"]).signatures


@pytest.mark.slow
def test_the_loader_sees_every_signature(both):
    c_model, python = both
    # Beside them, the init op the loader ran (it fills the vocabulary tables).
    assert set(c_model.signatures) == set(python) | {"__saved_model_init_op"}


def test_score_equals_the_python_loader(both):
    c_model, python = both
    words = np.array(WORDS, object)
    got = c_model.run("score", words=words)
    want = python["score"](words=tf.constant(WORDS))
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name].numpy(), atol=1e-5,
                                   err_msg=name)
    # "zebra" is not in the tiny vocabulary: the loader's own init op filled
    # the tables from the asset (an empty table would make every word <unk>
    # and change every number above), and the padded tokens score 0.
    assert got["num_tokens"].tolist() == [6, 2, 5]


def test_step_ids_and_string_outputs_equal_the_python_loader(both, trained):
    c_model, python = both
    state = python["start_state"](batch_size=tf.constant(2))["state"]
    got_state = c_model.run("start_state", batch_size=np.int32(2))["state"]
    np.testing.assert_allclose(got_state, state.numpy(), atol=1e-5)
    ids = np.array([3, 5], np.int32)
    for _ in range(3):  # the state carried between requests, as a client does
        got = c_model.run("step_ids", ids=ids, state=got_state)
        want = python["step_ids"](ids=tf.constant(ids), state=state)
        for name in ("log_probabilities", "top_log_probabilities", "state"):
            np.testing.assert_allclose(got[name], want[name].numpy(),
                                       atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(got["top_words"],
                                      want["top_words"].numpy())
        got_state, state = got["state"], want["state"]
        ids = np.argmax(got["log_probabilities"], axis=1).astype(np.int32)


def test_a_refused_request_is_invalid_argument_and_the_session_serves_on(both):
    c_model, python = both
    with pytest.raises(CApiError, match="num_words must be <= 1000") as error:
        c_model.run("generate", prefix=np.array([["the"]], object),
                    num_words=np.int32(10**9), temperature=np.float32(1.0),
                    top_k=np.int32(0), seed=np.int64(1))
    assert error.value.code == 3  # INVALID_ARGUMENT
    got = c_model.run("score", words=np.array(WORDS[:1], object))
    np.testing.assert_allclose(
        got["log_probability"],
        python["score"](words=tf.constant(WORDS[:1]))["log_probability"],
        atol=1e-5)
