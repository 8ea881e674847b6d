"""apply_clipped_sgd against the update it replaces: clip_by_global_norm, then
Keras's SGD.apply."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ptb_tf.training.sgd import apply_clipped_sgd


def weights_and_gradients(scale):
    """Two dense weights and an embedding whose gradient repeats a row."""
    rng = np.random.RandomState(0)
    values = [rng.randn(5, 8), rng.randn(8), rng.randn(6, 3)]
    dense = [scale * rng.randn(5, 8), scale * rng.randn(8)]
    rows = tf.IndexedSlices(tf.constant(scale * rng.randn(4, 3), tf.float32),
                            tf.constant([1, 4, 1, 0]), tf.constant([6, 3]))
    # Keras's variables, as a model's trainable_variables are.
    return ([keras.Variable(v.astype(np.float32)) for v in values],
            [tf.constant(g, tf.float32) for g in dense] + [rows])


def numpy(variables):
    return [v.value.numpy() for v in variables]


def optimizer_for(variables, learning_rate):
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    optimizer.build(variables)
    return optimizer


def keras_update(variables, gradients, learning_rate, max_norm):
    optimizer = optimizer_for(variables, learning_rate)
    clipped, _ = tf.clip_by_global_norm(gradients, max_norm)
    optimizer.apply(clipped, variables)
    return numpy(variables)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("scale", [0.01, 10.0], ids=["unclipped", "clipped"])
@pytest.mark.parametrize("learning_rate", [1.0, 0.8])
def test_the_update_is_keras_sgd_after_clip_by_global_norm(
        scale, learning_rate, jit_compile):
    variables, gradients = weights_and_gradients(scale)
    optimizer = optimizer_for(variables, learning_rate)
    step = tf.function(
        lambda: apply_clipped_sgd(optimizer, variables, gradients, 5.0,
                                  tf.constant(True)),
        jit_compile=jit_compile)
    norm = float(step())
    assert norm == pytest.approx(float(tf.linalg.global_norm(gradients)))
    assert int(optimizer.iterations) == 1
    expected = keras_update(weights_and_gradients(scale)[0], gradients,
                            learning_rate, 5.0)
    for got, want in zip(numpy(variables), expected):
        if learning_rate == 1.0 and not jit_compile:
            # One rounding fewer only where the rate is not 1.
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("poison", ["nan_gradient", "inf_gradient",
                                    "nan_cost"])
def test_a_non_finite_step_changes_no_weight_but_is_counted(poison):
    variables, gradients = weights_and_gradients(1.0)
    before = numpy(variables)
    if poison != "nan_cost":
        bad = np.zeros([8], np.float32)
        bad[3] = np.nan if poison == "nan_gradient" else np.inf
        gradients[1] = tf.constant(bad)
    optimizer = optimizer_for(variables, 1.0)
    norm = apply_clipped_sgd(optimizer, variables, gradients, 5.0,
                             tf.constant(poison != "nan_cost"))
    assert np.isfinite(float(norm)) == (poison == "nan_cost")
    assert int(optimizer.iterations) == 1
    for got, old in zip(numpy(variables), before):
        np.testing.assert_array_equal(got, old)
