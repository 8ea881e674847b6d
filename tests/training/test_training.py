"""Train and eval steps, clipping, exact evaluation and resume, on tiny data."""

import dataclasses
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import (first_batch, nth_line_in_epoch, run_until,
                           tiny_config, train_one_step, train_tiny,
                           update_norm, write_corpus)

from ptb_tf.options import RunOptions, resolve_auto
from ptb_tf.training.losses import (NARROW_HIDDEN, narrow_sequence_cost,
                                    sequence_cost, token_nll)
from ptb_tf.training.models import build_model
from ptb_tf.training.run import train_and_evaluate
from ptb_tf.training.trainer import Trainer


@pytest.mark.parametrize("autodiff", [False, True])
def test_sequence_cost_is_time_sum_of_batch_mean_nll(autodiff):
    rng = np.random.RandomState(0)
    logits = rng.randn(3, 4, 7).astype(np.float32)
    targets = rng.randint(0, 7, (3, 4)).astype(np.int32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    expected = nll.mean(axis=0).sum()
    cost = sequence_cost(logits, targets, autodiff=autodiff)
    assert float(cost) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("shape", [(6,), (3, 4)])
@pytest.mark.parametrize("scale", [3, 100])
def test_token_nll_has_the_gradient_of_tensorflows_cross_entropy(shape, scale):
    rng = np.random.RandomState(1)
    # Logits exp holds as they are, and logits past its range (the max is
    # subtracted); a target repeated, and an upstream gradient that differs
    # per token.
    logits = tf.constant(scale * rng.randn(*shape, 9), tf.float32)
    targets = tf.constant(rng.randint(0, 3, shape), tf.int32)
    upstream = tf.constant(rng.rand(*shape), tf.float32)
    values, gradients = [], []
    for nll in (token_nll, lambda x, y: (
            tf.nn.sparse_softmax_cross_entropy_with_logits(y, x))):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = nll(logits, targets)
        values.append(value.numpy())
        gradients.append(tape.gradient(value, logits,
                                       output_gradients=upstream).numpy())
    np.testing.assert_allclose(values[0], values[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gradients[0], gradients[1], atol=1e-6)


@pytest.mark.parametrize("static", [True, False])
def test_token_nll_gradient_in_a_graph_subtracts_the_targets_in_place(static):
    # Shapes known when tracing: the targets' term is subtracted in the
    # gradient's own buffer (InplaceSub); unknown: a TensorScatterSub. Both
    # give the cross entropy's gradient.
    rng = np.random.RandomState(3)
    logits = tf.constant(rng.randn(4, 5, 11), tf.float32)
    targets = tf.constant(rng.randint(0, 11, (4, 5)), tf.int32)
    upstream = tf.constant(rng.rand(4, 5), tf.float32)

    def gradient(nll):
        def run(logits, targets, upstream):
            with tf.GradientTape() as tape:
                tape.watch(logits)
                value = nll(logits, targets)
            return tape.gradient(value, logits, output_gradients=upstream)
        return run

    signature = None if static else [tf.TensorSpec([None, 5, 11]),
                                     tf.TensorSpec([None, 5], tf.int32),
                                     tf.TensorSpec([None, 5])]
    compiled = tf.function(gradient(token_nll), input_signature=signature)
    graph = compiled.get_concrete_function(logits, targets, upstream).graph
    ops = {op.type for op in graph.get_operations()} | {
        node.op for function in graph.as_graph_def().library.function
        for node in function.node_def}
    assert ("InplaceSub" in ops) == static
    assert ("TensorScatterSub" in ops) != static
    expected = gradient(lambda x, y: tf.nn.sparse_softmax_cross_entropy_with_logits(
        y, x))(logits, targets, upstream)
    np.testing.assert_allclose(compiled(logits, targets, upstream), expected,
                               atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("hidden", [2, NARROW_HIDDEN])
def test_narrow_sequence_cost_has_the_value_and_gradients_of_sequence_cost(
        jit_compile, hidden):
    rng = np.random.RandomState(2)
    outputs = tf.constant(rng.randn(3, 4, hidden), tf.float32)
    kernel = tf.constant(2 / np.sqrt(hidden) * rng.randn(hidden, 9),
                         tf.float32)
    bias = tf.constant(rng.randn(9), tf.float32)
    targets = tf.constant(rng.randint(0, 3, (3, 4)), tf.int32)  # repeated

    @tf.function(jit_compile=jit_compile)
    def cost_and_gradients(cost_of):
        with tf.GradientTape() as tape:
            tape.watch([outputs, kernel, bias])
            cost = cost_of()
        return [cost] + tape.gradient(cost, [outputs, kernel, bias])

    narrow = cost_and_gradients(
        lambda: narrow_sequence_cost(outputs, kernel, bias, targets))
    full = cost_and_gradients(lambda: sequence_cost(
        tf.einsum("bth,hv->btv", outputs, kernel) + bias, targets,
        autodiff=jit_compile))  # token_nll's in-place op has no XLA kernel
    for narrow_value, full_value in zip(narrow, full):
        np.testing.assert_allclose(narrow_value, full_value, rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("bias_value", [-60.0, 75.0])
def test_narrow_sequence_cost_is_nan_where_float32_exp_would_round(
        bias_value):
    # sequence_cost is finite here (it shifts by the maximum); the narrow
    # form, which does not, says so rather than return a rounded cost.
    outputs = tf.zeros([2, 3, 2])
    kernel = tf.zeros([2, 5])
    targets = tf.zeros([2, 3], tf.int32)
    bias = tf.fill([5], bias_value)
    assert np.isfinite(float(sequence_cost(
        tf.zeros([2, 3, 5]) + bias, targets)))
    assert np.isnan(float(narrow_sequence_cost(outputs, kernel, bias,
                                               targets)))
    assert np.isfinite(float(narrow_sequence_cost(outputs, kernel,
                                                  tf.zeros([5]), targets)))


@pytest.mark.parametrize("hidden_size, narrow", [
    (2, True), (NARROW_HIDDEN, True), (NARROW_HIDDEN + 1, False)])
def test_xla_training_takes_the_narrow_cost_for_a_few_hidden_units(
        corpus, hidden_size, narrow):
    config = tiny_config(corpus, hidden_size=hidden_size)
    trainer = Trainer(build_model(config, rnn_mode="unrolled"), config,
                      jit_compile=True)
    outputs = tf.random.stateless_normal([4, 5, hidden_size], [3, 4])
    targets = tf.random.stateless_uniform([4, 5], [5, 6], 0,
                                          config.vocab_size, tf.int32)
    graph = tf.function(trainer.softmax_cost).get_concrete_function(
        outputs, targets).graph
    uses_matmul = any(op.type in ("MatMul", "BatchMatMulV2", "Einsum")
                      for op in graph.get_operations())
    assert uses_matmul != narrow
    # The same cost as the model's logits give, either way.
    expected = sequence_cost(trainer.model.logits(outputs), targets)
    assert float(trainer.softmax_cost(outputs, targets)) == pytest.approx(
        float(expected), rel=1e-5)


def test_one_train_step_lowers_the_loss(corpus):
    config = tiny_config(corpus)
    trainer = Trainer(build_model(config), config)
    inputs, targets = first_batch(corpus, config)
    state = trainer.model.zero_state(config.batch_size)
    before, _ = trainer.eval_step(inputs, targets, state)
    cost, new_state, _ = train_one_step(trainer, inputs, targets, state)
    after, _ = trainer.eval_step(inputs, targets, state)
    assert float(cost) == pytest.approx(float(before), rel=1e-5)  # no dropout
    assert float(after) < float(before) - 0.1
    assert new_state.shape == state.shape


def test_clipping_bounds_the_global_norm_of_the_update(corpus):
    # With plain SGD at learning rate 1 the update is the clipped gradient.
    config = tiny_config(corpus, max_grad_norm=0.01)
    trainer = Trainer(build_model(config), config)
    variables = trainer.model.trainable_variables
    before = [variable.numpy() for variable in variables]
    inputs, targets = first_batch(corpus, config)
    _, _, global_norm = train_one_step(
        trainer, inputs, targets, trainer.model.zero_state(config.batch_size))
    assert float(global_norm) > 1.0  # clipping was active
    assert update_norm(variables, before) == pytest.approx(0.01, rel=1e-3)


def test_optimizer_uses_the_assigned_learning_rate(corpus):
    config = tiny_config(corpus, max_grad_norm=0.01)
    trainer = Trainer(build_model(config), config)
    trainer.optimizer.learning_rate.assign(0.25)
    variables = trainer.model.trainable_variables
    before = [variable.numpy() for variable in variables]
    inputs, targets = first_batch(corpus, config)
    train_one_step(trainer, inputs, targets,
                   trainer.model.zero_state(config.batch_size))
    assert update_norm(variables, before) == pytest.approx(0.25 * 0.01,
                                                           rel=1e-3)


@pytest.mark.slow
def test_long_window_exact_evaluation_equals_step_one(corpus):
    config = tiny_config(corpus)
    trainer = Trainer(build_model(config), config)
    inputs, targets = first_batch(corpus, config)
    train_one_step(trainer, inputs, targets,
                   trainer.model.zero_state(config.batch_size))
    step_one = trainer.evaluate_exact(corpus.test, window=1)
    for window in (7, 35, 1000):
        assert trainer.evaluate_exact(corpus.test, window) == pytest.approx(
            step_one, rel=1e-5)
    # And it is the perplexity of all len(test) - 1 predictions, by hand.
    model = trainer.model
    logits, _ = model(corpus.test[None, :-1])
    log_probs = tf.nn.log_softmax(logits[0]).numpy()
    nll = -log_probs[np.arange(len(corpus.test) - 1), corpus.test[1:]]
    assert step_one == pytest.approx(np.exp(nll.mean()), rel=1e-5)


def test_train_and_evaluate_writes_results(corpus, tmp_path):
    config = tiny_config(corpus)
    lines = []
    results = train_tiny(config, corpus,
                         save_path=str(tmp_path / "run"),
                         log=lines.append)
    assert [epoch["epoch"] for epoch in results["epochs"]] == [1, 2]
    assert [epoch["learning_rate"] for epoch in results["epochs"]] == [1.0, 0.5]
    first, second = results["epochs"]
    assert second["train_perplexity"] < first["train_perplexity"]
    assert results["test_perplexity"] < len(corpus.vocab)  # learned something
    assert "Epoch: 2 Valid Perplexity" in " ".join(lines)
    assert lines[-1].startswith("Test Perplexity:")
    on_disk = json.load(open(os.path.join(tmp_path, "run", "results.json")))
    assert on_disk["test_perplexity"] == results["test_perplexity"]
    assert lines[-1].endswith(" bits per token)")
    assert results["token_unit"] == "token"


@pytest.mark.slow
def test_character_tokens_are_reported_in_bits_per_character(tmp_path):
    """PTB's char files are word-level files whose words are characters."""
    from ptb_tf.corpus.splits import load_corpus  # pylint: disable=g-import-not-at-top
    from ptb_tf.corpus.text import split_tokens  # pylint: disable=g-import-not-at-top
    text = " ".join("the_cat_sat_on_the_mat") + " \n"
    corpus = load_corpus(write_corpus(tmp_path, train=text * 40,
                                             valid=text * 5, test=text * 5))
    assert split_tokens(text, "word")[:3] == ["t", "h", "e"]
    lines = []
    results = train_tiny(tiny_config(corpus, max_max_epoch=1), corpus,
                         log=lines.append)
    assert lines[-1].endswith(" bits per character)")
    assert results["token_unit"] == "character"
    assert results["test_bits_per_token"] == pytest.approx(
        math.log2(results["test_perplexity"]))


@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", [False, True])
def test_resume_mid_epoch_gives_exactly_the_uninterrupted_results(
        corpus, tmp_path, jit_compile):
    # Dropout on: the resumed run must also continue the random numbers.
    config = tiny_config(corpus, max_max_epoch=3, keep_prob=0.5)
    options = dict(rnn_mode="unrolled", jit_compile=jit_compile,
                   checkpoint_every=3)
    straight = train_and_evaluate(config, corpus, save_path=str(tmp_path / "a"),
                                  log=lambda line: None, **options)
    resumed_path = str(tmp_path / "b")
    # Stopped right after the first checkpoint of epoch 1, then in epoch 2
    # after its second one, and then during the test evaluation.
    run_until(config, corpus, resumed_path, lambda line: "(saved" in line,
              **options)
    run_until(config, corpus, resumed_path, nth_line_in_epoch(2, 2, "(saved"), **options)
    run_until(config, corpus, resumed_path,
              lambda line: line.startswith("Epoch: 3 Valid"), **options)
    lines = []
    resumed = train_and_evaluate(config, corpus, save_path=resumed_path,
                                 log=lines.append, **options)
    assert lines[0].startswith("Resuming from") and "epoch 3" in lines[0]
    for key in ("train_perplexity", "valid_perplexity"):
        assert ([e[key] for e in resumed["epochs"]]
                == [e[key] for e in straight["epochs"]]), key
    assert resumed["test_perplexity"] == straight["test_perplexity"]


@pytest.mark.slow
def test_resume_after_a_stopped_run_continues_where_it_stopped(corpus,
                                                               tmp_path):
    config = tiny_config(corpus, max_max_epoch=3)
    straight = train_tiny(config, corpus, save_path=str(tmp_path / "a"),
                          log=lambda line: None)
    run_until(config, corpus, str(tmp_path / "b"),
              lambda line: line.startswith("Epoch: 2 Learning rate"))
    lines = []
    resumed = train_tiny(config, corpus, save_path=str(tmp_path / "b"),
                         log=lines.append)
    assert lines[0].startswith("Resuming from") and "epoch 2, batch 0" in lines[0]
    assert not any(line.startswith("Epoch: 1 ") for line in lines)
    for key in ("train_perplexity", "valid_perplexity"):
        assert ([e[key] for e in resumed["epochs"]]
                == [e[key] for e in straight["epochs"]]), key
    assert resumed["test_perplexity"] == straight["test_perplexity"]


@pytest.mark.slow
@pytest.mark.parametrize("rnn_mode, jit_compile", [("unrolled", True),
                                                   ("block", False)])
def test_fast_paths_train_to_the_same_perplexities(corpus, rnn_mode,
                                                   jit_compile):
    config = tiny_config(corpus)
    keras_run = train_and_evaluate(config, corpus, log=lambda _: None,
                                   rnn_mode="keras")
    fast_run = train_and_evaluate(config, corpus, log=lambda _: None,
                                  rnn_mode=rnn_mode, jit_compile=jit_compile)
    for key in ("train_perplexity", "valid_perplexity", "test_perplexity"):
        assert fast_run[key] == pytest.approx(keras_run[key], rel=1e-4), key


def test_xla_training_of_a_few_hidden_units_gives_the_graph_perplexities(
        corpus):
    # Under XLA a 2-unit model trains through narrow_sequence_cost.
    config = tiny_config(corpus, hidden_size=2)
    runs = [train_and_evaluate(config, corpus, log=lambda _: None,
                               rnn_mode="unrolled", jit_compile=jit_compile)
            for jit_compile in (False, True)]
    for key in ("train_perplexity", "valid_perplexity", "test_perplexity"):
        assert runs[1][key] == pytest.approx(runs[0][key], rel=1e-4), key
    assert runs[0]["valid_perplexity"] < config.vocab_size  # it learned


@pytest.mark.slow
def test_mixed_bfloat16_trains_to_about_the_float32_perplexities(corpus):
    config = tiny_config(corpus)
    float32_run = train_and_evaluate(config, corpus, log=lambda _: None,
                                     rnn_mode="keras")
    bfloat16_run = train_and_evaluate(config, corpus, log=lambda _: None,
                                      rnn_mode="keras",
                                      precision="mixed_bfloat16")
    assert bfloat16_run["precision"] == "mixed_bfloat16"
    for key in ("train_perplexity", "valid_perplexity", "test_perplexity"):
        assert bfloat16_run[key] == pytest.approx(float32_run[key], rel=0.03), key


def test_tied_embeddings_train_under_keras_mixed_policies(corpus):
    """The tied softmax in rnn_mode keras follows Keras's compute dtype (it
    once added a float32 product to a half-type bias)."""
    config = tiny_config(corpus, tie_embeddings=True)
    float32_run = train_and_evaluate(config, corpus, log=lambda _: None,
                                     rnn_mode="keras")
    for precision in ("mixed_bfloat16", "mixed_float16"):
        mixed_run = train_and_evaluate(config, corpus, log=lambda _: None,
                                       rnn_mode="keras", precision=precision)
        assert mixed_run["test_perplexity"] == pytest.approx(
            float32_run["test_perplexity"], rel=0.05), precision


def test_auto_is_keras_on_a_gpu_and_unrolled_with_xla_on_a_cpu():
    auto = RunOptions()
    assert auto.rnn_mode == "auto"
    assert resolve_auto(auto, on_gpu=True) == dataclasses.replace(
        auto, rnn_mode="keras")
    assert resolve_auto(auto, on_gpu=False) == dataclasses.replace(
        auto, rnn_mode="unrolled", jit_compile=True)
    # XLA does not compile a strategy's replica step.
    assert resolve_auto(auto, on_gpu=False, one_device=False) == \
        dataclasses.replace(auto, rnn_mode="unrolled")
    chosen = RunOptions(rnn_mode="keras")
    assert resolve_auto(chosen, on_gpu=False) is chosen


def test_a_run_records_the_mode_auto_chose(corpus):
    # One epoch: what is checked is the mode, not the training.
    results = train_and_evaluate(tiny_config(corpus, max_max_epoch=1), corpus,
                                 log=lambda _: None)
    ran = resolve_auto(RunOptions(),
                       on_gpu=bool(tf.config.list_physical_devices("GPU")))
    assert (results["rnn_mode"], results["jit_compile"]) == (
        ran.rnn_mode, ran.jit_compile)
    assert results["rnn_mode"] != "auto"


def test_load_model_reads_a_checkpoint_from_before_identities(corpus, tmp_path):
    """Runs saved before checkpoints carried an identity still load."""
    from ptb_tf.training.models import load_model  # pylint: disable=g-import-not-at-top
    config = tiny_config(corpus)
    model = build_model(config)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                         str(tmp_path), max_to_keep=1)
    manager.save()
    vocab_path = str(tmp_path / "vocab.txt")
    corpus.vocab.save(vocab_path)
    (tmp_path / "config.json").write_text(config.to_json())
    loaded = load_model(str(tmp_path), "best")
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
