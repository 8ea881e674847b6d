"""--precision: float32, mixed_bfloat16 and mixed_float16 (with loss scaling)."""

import dataclasses
import math

import numpy as np
import pytest
from tests.helpers import (first_batch, nth_line_in_epoch, run_until,
                           tiny_config, train_one_step, update_norm)

from ptb_tf.config import PRESETS
from ptb_tf.training.models import build_model
from ptb_tf.training.run import train_and_evaluate
from ptb_tf.training.trainer import Trainer


@pytest.mark.parametrize("rnn_mode", ["keras", "unrolled"])
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16",
                                       "mixed_float16"])
def test_each_policy_trains_the_test_config_with_dropout(corpus, precision,
                                                         rnn_mode):
    # The test preset on the tiny corpus, with dropout on (the tutorial's
    # --use_fp16 crashed with dropout).
    config = dataclasses.replace(PRESETS["test"], vocab_size=len(corpus.vocab),
                                 batch_size=4, keep_prob=0.5)
    results = train_and_evaluate(config, corpus, log=lambda _: None,
                                 rnn_mode=rnn_mode, precision=precision)
    assert results["precision"] == precision
    for key in ("train_perplexity", "valid_perplexity", "test_perplexity"):
        assert math.isfinite(results[key]) and results[key] < 30, key


def one_step(corpus, precision, max_grad_norm):
    """Weights' update norm and the reported gradient norm of one SGD step
    at learning rate 1 (the update is the clipped gradient)."""
    config = tiny_config(corpus, max_grad_norm=max_grad_norm)
    trainer = Trainer(build_model(config, "unrolled", precision), config)
    variables = trainer.model.trainable_variables
    before = [variable.numpy() for variable in variables]
    inputs, targets = first_batch(corpus, config)
    _, _, norm = train_one_step(trainer, inputs, targets,
                                trainer.model.zero_state(config.batch_size))
    return update_norm(variables, before), float(norm), trainer


@pytest.mark.slow
def test_float16_clipping_uses_the_unscaled_norm(corpus):
    _, float32_norm, _ = one_step(corpus, "float32", 100.0)
    assert 1 < float32_norm < 100
    # The loss is scaled by 2^15 for the backward pass; the norm reported
    # and the norm clipped are those of the unscaled gradients.
    update, norm, trainer = one_step(corpus, "mixed_float16", 100.0)
    assert float(trainer.optimizer.dynamic_scale) == 2.0 ** 15
    assert norm == pytest.approx(float32_norm, rel=0.01)
    # Below the clipping norm: the whole gradient is applied (clipping the
    # scaled norm, ~2^15 times larger, would have shrunk it 2^15 / 100 times).
    assert update == pytest.approx(norm, rel=1e-3)
    # Above it: clipped to exactly the clipping norm.
    update, norm, _ = one_step(corpus, "mixed_float16", 0.01)
    assert norm > 1 and update == pytest.approx(0.01, rel=1e-3)


def test_float16_overflow_skips_the_step_and_halves_the_scale(corpus):
    config = tiny_config(corpus)
    trainer = Trainer(build_model(config, "unrolled", "mixed_float16"), config)
    trainer.optimizer.dynamic_scale.assign(2.0 ** 60)  # overflows float16
    variables = trainer.model.trainable_variables
    before = [variable.numpy() for variable in variables]
    inputs, targets = first_batch(corpus, config)
    cost, _, _ = train_one_step(trainer, inputs, targets,
                                trainer.model.zero_state(config.batch_size))
    assert math.isfinite(float(cost))  # the loss itself is fine
    assert update_norm(variables, before) == 0
    assert float(trainer.optimizer.dynamic_scale) == 2.0 ** 59


@pytest.mark.slow
def test_float16_resume_is_exact(corpus, tmp_path):
    # The loss scale and its counter are in the checkpoint with the rest.
    config = tiny_config(corpus, max_max_epoch=2)
    options = dict(rnn_mode="unrolled", precision="mixed_float16",
                   checkpoint_every=3)
    straight = train_and_evaluate(config, corpus, save_path=str(tmp_path / "a"),
                                  log=lambda _: None, **options)
    run_until(config, corpus, str(tmp_path / "b"),
              nth_line_in_epoch(2, 1, "(saved"), **options)
    resumed = train_and_evaluate(config, corpus, save_path=str(tmp_path / "b"),
                                 log=lambda _: None, **options)
    assert resumed["test_perplexity"] == straight["test_perplexity"]
    assert np.isclose(resumed["valid_perplexity"], straight["valid_perplexity"],
                      rtol=0, atol=0)
