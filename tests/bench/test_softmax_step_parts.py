"""benchmarks/softmax_step_parts.py: each timed part computes what its name
says (the timings themselves are not tested)."""

import numpy as np
import tensorflow as tf
from tests.helpers import load_benchmark

from ptb_tf.config import PRESETS
from ptb_tf.training.losses import sequence_cost

step_parts = load_benchmark("softmax_step_parts")


def test_each_part_keeps_the_shapes_and_the_last_one_takes_an_sgd_step():
    config = PRESETS["test"]
    rng = np.random.default_rng(0)
    start = (tf.constant(rng.uniform(-0.1, 0.1, [config.hidden_size,
                                                 config.vocab_size]), tf.float32),
             tf.constant(rng.uniform(-0.1, 0.1, [config.vocab_size]), tf.float32),
             tf.constant(rng.uniform(-1, 1, [config.batch_size, config.num_steps,
                                             config.hidden_size]), tf.float32))
    parts = step_parts.parts(tf, config)
    assert len(parts) == 4
    for body in parts.values():
        assert [value.shape for value in body(*start)] == [value.shape
                                                           for value in start]
    # The whole layer: one SGD step (rate 1e-3) on the loss's gradients
    # to the weights, the bias and the inputs.
    stepped = list(parts.values())[-1](*start)
    values = [tf.Variable(value) for value in start]
    targets = tf.random.stateless_uniform(
        [config.batch_size, config.num_steps], [1, 2], 0, config.vocab_size,
        tf.int32)
    with tf.GradientTape() as tape:
        logits = tf.einsum("bth,hv->btv", values[2], values[0]) + values[1]
        cost = sequence_cost(logits, targets)
    for value, gradient, result in zip(start, tape.gradient(cost, values),
                                       stepped):
        update = (result - value).numpy()
        # Each update is well above float32's rounding of the values (1 ulp
        # of 1 is 1.2e-7): a part that skipped one would fail.
        assert np.abs(update).max() > 1e-6
        np.testing.assert_allclose(update, -1e-3 * gradient.numpy(), atol=2e-7)
