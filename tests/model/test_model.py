"""PTBModel: shapes, explicit state, dropout placement, config, initialisation."""

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import assert_paths_agree

from ptb_tf.model.ptb_model import MAX_UNROLLED_EVAL_STEPS, PTBModel


VOCAB, HIDDEN, LAYERS = 13, 6, 2


@pytest.fixture
def model():
    model = PTBModel(VOCAB, HIDDEN, LAYERS, keep_prob=0.5, init_scale=0.3)
    model(tf.zeros([1, 1], tf.int32))
    return model


def random_ids(batch, time, seed=0):
    return tf.constant(np.random.RandomState(seed).randint(0, VOCAB, (batch, time)),
                       tf.int32)


def test_output_and_state_shapes(model):
    logits, state = model(random_ids(3, 5), model.zero_state(3))
    assert logits.shape == (3, 5, VOCAB) and logits.dtype == tf.float32
    assert state.shape == (LAYERS, 2, 3, HIDDEN)
    assert model.zero_state(4).shape == (LAYERS, 2, 4, HIDDEN)


def test_carried_state_equals_one_long_run(model):
    ids = random_ids(2, 9)
    whole, whole_state = model(ids, model.zero_state(2))
    first, state = model(ids[:, :4], model.zero_state(2))
    second, split_state = model(ids[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole,
                               atol=1e-5)
    np.testing.assert_allclose(split_state, whole_state, atol=1e-5)


def test_state_matters_and_none_means_zero(model):
    ids = random_ids(2, 3)
    zero, _ = model(ids, model.zero_state(2))
    default, _ = model(ids)
    np.testing.assert_allclose(default, zero, atol=1e-6)
    other, _ = model(ids, tf.ones([LAYERS, 2, 2, HIDDEN]))
    assert np.abs(other - zero).max() > 1e-3


def test_dropout_only_in_training(model):
    ids = random_ids(4, 6)
    inference_a, _ = model(ids, training=False)
    inference_b, _ = model(ids, training=False)
    np.testing.assert_array_equal(inference_a, inference_b)
    training, _ = model(ids, training=True)
    assert np.abs(training - inference_a).max() > 1e-3
    no_dropout = PTBModel(VOCAB, HIDDEN, LAYERS, keep_prob=1.0)
    no_dropout(ids)
    np.testing.assert_allclose(no_dropout(ids, training=True)[0],
                               no_dropout(ids, training=False)[0], atol=1e-6)


def test_every_weight_starts_uniform_within_init_scale(model):
    names = sorted(weight.path for weight in model.weights)
    assert len(names) == 1 + 3 * LAYERS + 2  # embedding, LSTM kernels and biases, softmax
    for weight in model.weights:
        values = weight.numpy()
        assert np.abs(values).max() <= 0.3
        assert values.std() > 0.3 / 4  # uniform(-a, a) has std a / sqrt(3)


def test_forget_gate_gets_no_extra_bias(model):
    bias = model.lstm_0.cell.bias.numpy()  # gates i, f, c, o
    forget = bias[HIDDEN:2 * HIDDEN]
    assert np.abs(forget).max() <= 0.3  # no +1 from unit_forget_bias


def test_get_config_round_trips(model):
    config = model.get_config()
    clone = PTBModel.from_config(config)
    assert clone.get_config() == config
    ids = random_ids(2, 4)
    clone(ids)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(ids)[0], model(ids)[0], atol=1e-6)


def test_checkpoint_tracks_every_weight(model, tmp_path):
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    saved = [name for name, _ in tf.train.list_variables(path)
             if name.startswith("model/")]
    assert len(saved) == len(model.weights)
    assert any("lstm_1" in name for name in saved)


@pytest.mark.parametrize("kwargs, message", [
    (dict(keep_prob=0.0), "keep_prob must be in"),
    (dict(keep_prob=1.2), "keep_prob must be in"),
    (dict(init_scale=0.0), "init_scale must be > 0"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message + ".*Received"):
        PTBModel(VOCAB, HIDDEN, LAYERS, **kwargs)
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1"):
        PTBModel(VOCAB, HIDDEN, 0)


@pytest.mark.parametrize("rnn_mode", ["unrolled", "block"])
def test_rnn_modes_agree_with_keras_and_share_checkpoints(model, rnn_mode,
                                                          tmp_path):
    other = PTBModel(VOCAB, HIDDEN, LAYERS, keep_prob=0.5, init_scale=0.3,
                     rnn_mode=rnn_mode)
    other(tf.zeros([1, 1], tf.int32))
    # A checkpoint written by the keras mode restores into the other mode.
    assert_paths_agree(other, model, random_ids(3, 7), tmp_path)


def test_a_long_evaluation_window_runs_as_a_scan(model):
    unrolled = PTBModel(VOCAB, HIDDEN, LAYERS, keep_prob=0.5, init_scale=0.3,
                        rnn_mode="unrolled")
    unrolled(tf.zeros([1, 1], tf.int32))
    unrolled.set_weights(model.get_weights())
    ids = random_ids(1, MAX_UNROLLED_EVAL_STEPS + 1)
    np.testing.assert_allclose(unrolled(ids, training=False)[0],
                               model(ids, training=False)[0], atol=1e-5)
    # Traced as a loop: the recurrent matmuls are in its body, not one per
    # step in the graph (the input projections and the softmax remain).
    graph = tf.function(lambda ids: unrolled(ids, training=False)
                        ).get_concrete_function(ids).graph
    matmuls = [op for op in graph.get_operations()
               if op.type in ("MatMul", "BatchMatMulV2", "BatchMatMulV3")]
    assert len(matmuls) < MAX_UNROLLED_EVAL_STEPS
    # Training windows stay unrolled, whatever their length.
    graph = tf.function(lambda ids: unrolled(ids, training=True)
                        ).get_concrete_function(ids).graph
    matmuls = [op for op in graph.get_operations()
               if op.type in ("MatMul", "BatchMatMulV2", "BatchMatMulV3")]
    assert len(matmuls) > MAX_UNROLLED_EVAL_STEPS


def test_a_bfloat16_scan_rounds_each_kernel_once_not_at_every_step():
    """The exact test's scan at batch 1 reads little more than the recurrent
    kernels at each step: rounding them there too (a cast in the loop body)
    made large's test 3x slower than float32's. In each layer's loop body
    the one cast to bfloat16 is the state's."""
    mixed = PTBModel(VOCAB, HIDDEN, LAYERS, rnn_mode="unrolled",
                     precision="mixed_bfloat16")
    ids = random_ids(1, MAX_UNROLLED_EVAL_STEPS + 1)
    library = tf.function(lambda ids: mixed(ids, training=False)
                          ).get_concrete_function(ids).graph.as_graph_def().library
    bodies = [function for function in library.function
              if "while_body" in function.signature.name]
    assert len(bodies) == LAYERS
    for body in bodies:
        to_bfloat16 = [node for node in body.node_def if node.op == "Cast"
                       and node.attr["DstT"].type == tf.bfloat16.as_datatype_enum]
        assert len(to_bfloat16) == 1, body.signature.name


def test_unknown_rnn_mode():
    with pytest.raises(ValueError, match="rnn_mode must be one of keras"):
        PTBModel(VOCAB, HIDDEN, LAYERS, rnn_mode="cudnn")


@pytest.mark.parametrize("rnn_mode, logits_dtype, tolerance", [
    ("keras", tf.bfloat16, 0.03),     # Keras's policy: all of it in bfloat16
    ("unrolled", tf.float32, 0.005),  # only the matmul operands rounded
])
def test_mixed_bfloat16_computes_in_bfloat16_on_float32_weights(
        model, rnn_mode, logits_dtype, tolerance):
    mixed = PTBModel(VOCAB, HIDDEN, LAYERS, keep_prob=0.5, init_scale=0.3,
                     rnn_mode=rnn_mode, precision="mixed_bfloat16")
    mixed(tf.zeros([1, 1], tf.int32))
    mixed.set_weights(model.get_weights())
    assert all(weight.dtype == "float32" for weight in mixed.weights)
    ids = random_ids(3, 7)
    logits, state = mixed(ids)
    assert logits.dtype == logits_dtype and state.dtype == tf.float32
    expected, expected_state = model(ids)
    # bfloat16 keeps 8 bits of mantissa: close, not equal.
    difference = np.max(np.abs(tf.cast(logits, tf.float32) - expected))
    assert 0 < difference < tolerance
    np.testing.assert_allclose(state, expected_state, atol=tolerance)
    assert PTBModel.from_config(mixed.get_config()).precision == "mixed_bfloat16"


def test_block_mode_is_float32_only():
    with pytest.raises(ValueError, match="rnn_mode=block runs in float32 only"):
        PTBModel(VOCAB, HIDDEN, LAYERS, rnn_mode="block",
                 precision="mixed_bfloat16")


@pytest.mark.parametrize("dropout", ["standard", "variational"])
@pytest.mark.parametrize("rnn_mode", ["keras", "unrolled"])
def test_dropout_is_where_the_tutorial_puts_it(rnn_mode, dropout):
    """keep_prob < 1: dropout on the embedded inputs and on every layer's
    output (the top one included, just before the softmax), never on the
    recurrent state; none at evaluation (Zaremba et al. 2014, section 3)."""
    net = PTBModel(VOCAB, HIDDEN, LAYERS, keep_prob=0.5, init_scale=0.3,
                   rnn_mode=rnn_mode, dropout=dropout)
    ids = random_ids(3, 5)
    state = tf.random.stateless_normal(net.zero_state(3).shape, seed=[3, 4])
    net(ids, state)
    seen = []  # (dropout layer, its input, its output), in call order
    for layer in [net.input_dropout] + net.output_dropouts:
        def spy(inputs, training=False, _layer=layer, _call=layer.call):
            outputs = _call(inputs, training=training)
            seen.append((_layer.name, inputs, outputs))
            return outputs
        layer.call = spy
    for layer in net.rnn_layers:  # Keras's own dropout stays off
        assert layer.cell.dropout == 0 and layer.cell.recurrent_dropout == 0

    logits, new_state = net(ids, state, training=True)
    assert [name for name, _, _ in seen] == (
        ["input_dropout"] + [f"dropout_{i}" for i in range(LAYERS)])
    # The first mask is on the embedded inputs.
    np.testing.assert_allclose(seen[0][1], net.embedding(ids), atol=1e-6)
    for _, inputs, outputs in seen:  # each one drops about half of its units
        dropped = np.mean(outputs.numpy() == 0)
        assert 0.2 < dropped < 0.8
        kept = outputs.numpy() != 0
        np.testing.assert_allclose(outputs.numpy()[kept],
                                   2 * inputs.numpy()[kept], rtol=1e-5)
    # No mask between the layers' steps: each layer, run without dropout on
    # the dropped outputs of the one below, gives the same outputs and state.
    for index, layer in enumerate(net.rnn_layers):
        layer_state = tuple(state[index, part] for part in range(2))
        outputs, (c, h) = net._run_layer(layer, seen[index][2], layer_state,
                                         training=False)
        np.testing.assert_allclose(outputs, seen[index + 1][1], atol=1e-5)
        np.testing.assert_allclose(tf.stack([c, h]), new_state[index],
                                   atol=1e-5)
    # The top layer's dropped output is what the softmax sees.
    np.testing.assert_allclose(logits, net.logits(seen[-1][2]), atol=1e-5)

    seen.clear()
    evaluated, _ = net(ids, state, training=False)
    for _, inputs, outputs in seen:
        np.testing.assert_array_equal(outputs, inputs)
    np.testing.assert_allclose(evaluated, net(ids, state)[0], atol=1e-6)


@pytest.mark.parametrize("layers", [1, 3])
def test_the_served_stack_is_the_models_on_every_row_length(layers):
    """run_stack's wavefront (layer l a step behind layer l - 1) over rows
    padded to a common length gives each row's outputs and final state as the
    Keras model run on that row alone."""
    from ptb_tf.model import recurrent  # pylint: disable=import-outside-toplevel
    net = PTBModel(VOCAB, HIDDEN, layers, init_scale=0.3)
    net(tf.zeros([1, 1], tf.int32))
    ids = random_ids(3, 6, seed=layers)
    lengths = [6, 1, 4]
    mask = tf.constant([[t < n for t in range(6)] for n in lengths])
    state = tf.random.stateless_normal([layers, 2, 3, HIDDEN], [2, layers])
    weights = recurrent.StackWeights.from_model(net)
    outputs, new_state = recurrent.run_stack(weights, ids, mask, state)
    for row, length in enumerate(lengths):
        logits, row_state = net(ids[row:row + 1, :length],
                                state[:, :, row:row + 1])
        np.testing.assert_allclose(
            recurrent.log_softmax_logits(weights, outputs[row, :length]),
            tf.nn.log_softmax(logits[0]), atol=1e-5)
        np.testing.assert_allclose(new_state[:, :, row], row_state[:, :, 0],
                                   atol=1e-5)


@pytest.mark.parametrize("count", [1, 4, 5, 9, 12, 13])
def test_target_log_probs_in_blocks_equal_the_whole_log_softmax(model, count):
    """Equal blocks of at most `rows` rows, the last padded, give each
    token's log-probability as one softmax over all the rows would."""
    from ptb_tf.model import recurrent  # pylint: disable=import-outside-toplevel
    weights = recurrent.StackWeights.from_model(model)
    outputs = tf.random.stateless_normal([count, HIDDEN], [1, count])
    ids = random_ids(1, count, seed=count)[0]
    expected = tf.gather(recurrent.log_softmax_logits(weights, outputs), ids,
                         batch_dims=1)
    for rows in (1, 4, 1024):
        np.testing.assert_allclose(
            recurrent.target_log_probs(weights, outputs, ids, rows), expected,
            atol=1e-5)


def test_target_log_probs_stay_exact_for_logits_exp_cannot_hold(model):
    """Logits past exp's float32 range (> 88, or all < -87 in a row) take the
    max-shifted path: the same log-probabilities as log_softmax, finite."""
    from ptb_tf.model import recurrent  # pylint: disable=import-outside-toplevel
    weights = recurrent.StackWeights.from_model(model)
    outputs = tf.random.stateless_normal([8, HIDDEN], [3, 0])
    ids = random_ids(1, 8, seed=3)[0]
    for scale, shift in ((400.0, 0.0), (1.0, -200.0)):
        scaled = recurrent.StackWeights(
            weights.embedding, weights.kernels, weights.recurrent_kernels,
            weights.biases, tf.concat([weights.softmax_kernel * scale,
                                       weights.softmax_bias[None] + shift], 0))
        expected = tf.gather(recurrent.log_softmax_logits(scaled, outputs),
                             ids, batch_dims=1)
        got = recurrent.target_log_probs(scaled, outputs, ids, rows=4)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_shifted_exp_shifts_by_the_max_only_when_it_must(monkeypatch):
    """No max pass on a CPU for logits exp holds (shift 0); the row's max
    past that range, and always with a GPU (no branch on a GPU value)."""
    from ptb_tf.model import recurrent  # pylint: disable=import-outside-toplevel
    logits = tf.constant([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    for scale, shift in ((1.0, [[0.0], [0.0]]), (100.0, [[300.0], [50.0]])):
        exp, sums, got_shift = recurrent.shifted_exp(scale * logits)
        np.testing.assert_allclose(got_shift, shift)
        np.testing.assert_allclose(sums, tf.reduce_sum(exp, -1, keepdims=True))
    real = tf.config.list_logical_devices
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: ["GPU:0"] if kind == "GPU" else real(kind))
    np.testing.assert_allclose(recurrent.shifted_exp(logits)[2], [[3.0], [0.5]])


@pytest.mark.parametrize("rnn_mode", ["keras", "unrolled"])
def test_the_embedding_is_read_row_by_row(rnn_mode):
    # A dense read of the embedding copies all of it every batch once the
    # sparse update has scattered into it; only the looked-up rows are read.
    model = PTBModel(VOCAB, HIDDEN, LAYERS, keep_prob=0.5, init_scale=0.3,
                     rnn_mode=rnn_mode)
    ids = random_ids(2, 3)
    model(ids)
    graph = tf.function(lambda ids: model(ids, training=True)
                        ).get_concrete_function(ids).graph
    handle = model.embedding.embeddings.value.handle
    readers = {consumer.type for external, internal in graph.captures
               if external is handle for consumer in internal.consumers()}
    assert readers == {"ResourceGather"}
