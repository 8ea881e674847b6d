"""GPU readiness checked on a CPU: with --rnn_mode=keras every recurrent
layer meets the conditions under which Keras runs it as one fused cuDNN
kernel, for each cell that has one (LSTM, GRU; SimpleRNN has none), with
every option that touches the layers.

The conditions are those of Keras 3's TensorFlow backend
(keras/src/backend/tensorflow/rnn.py, `cudnn_ok` and the layers'
`inner_loop`): tanh activation, sigmoid recurrent activation, no unroll, a
bias, no recurrent dropout, use_cudnn left on, and for the GRU
reset_after=True. Where this Keras still has its own predicate, the layer
must pass it too.
"""

import itertools

import keras
import pytest
import tensorflow as tf

from ptb_tf.model.ptb_model import PTBModel

OPTIONS = [dict(keep_prob=keep_prob, dropout=dropout, tie_embeddings=tied,
                precision=precision)
           for keep_prob, dropout, tied, precision in itertools.product(
               (1.0, 0.5), ("standard", "variational"), (False, True),
               ("float32", "mixed_float16"))]


def keras_predicate(layer):
    """Keras's own argument check, where this version has it (else None)."""
    from keras.src.backend.tensorflow import rnn  # pylint: disable=import-outside-toplevel
    cell = layer.cell
    if isinstance(layer, keras.layers.GRU):
        check = getattr(rnn, "_do_gru_arguments_support_cudnn", None)
        extra = dict(reset_after=cell.reset_after)
    else:
        check = getattr(rnn, "_do_lstm_arguments_support_cudnn", None)
        extra = {}
    if check is None:
        return None
    return check(activation=cell.activation,
                 recurrent_activation=cell.recurrent_activation,
                 unroll=layer.unroll, use_bias=cell.use_bias, **extra)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda options: "-".join(
    str(value) for value in options.values()))
def test_every_recurrent_layer_can_run_as_a_cudnn_kernel(cell, options):
    model = PTBModel(11, 8, 2, cell=cell, rnn_mode="keras", **options)
    model(tf.zeros([1, 1], tf.int32))
    layers = model.rnn_layers
    assert len(layers) == 2
    kind = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
    for layer in layers:
        assert isinstance(layer, kind)
        cell_ = layer.cell
        assert cell_.activation in (keras.activations.tanh, tf.tanh)
        assert cell_.recurrent_activation in (keras.activations.sigmoid,
                                              tf.sigmoid)
        assert not layer.unroll
        assert cell_.use_bias
        # Dropout is applied between the layers, never inside the recurrence.
        assert cell_.recurrent_dropout == 0 and cell_.dropout == 0
        assert layer.use_cudnn in ("auto", True)
        if cell == "gru":
            assert cell_.reset_after
        assert keras_predicate(layer) in (True, None)


def test_the_check_would_see_a_layer_that_is_not_eligible():
    """The predicate is not vacuous: a layer that cuDNN cannot run fails it."""
    plain = keras.layers.LSTM(4, activation="relu")
    plain.build((None, None, 3))
    assert keras_predicate(plain) in (False, None)
    gru = keras.layers.GRU(4, reset_after=False)
    gru.build((None, None, 3))
    assert keras_predicate(gru) in (False, None)
