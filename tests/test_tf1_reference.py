"""tools/tf1_reference.py, the tutorial's model as TensorFlow 1 graph code,
against ptb_tf: from the same weights, on the same batches, the same costs
step after step (clipping active, words repeated in a batch)."""

import dataclasses
import json
import os
import re

import numpy as np
import pytest
from tests.helpers import REPO_ROOT, run_python, tiny_config

TOOL = os.path.join(REPO_ROOT, "tools", "tf1_reference.py")
STEPS = 6


def ptb_tf_costs(corpus, config, rnn_mode, weights_file):
    """Writes the initial weights to weights_file; the costs of the first
    STEPS training batches."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from ptb_tf.corpus.datasets import window_dataset  # pylint: disable=import-outside-toplevel
    from ptb_tf.training.models import build_model  # pylint: disable=import-outside-toplevel
    from ptb_tf.training.trainer import Trainer  # pylint: disable=import-outside-toplevel

    keras.utils.set_random_seed(0)  # the same start on every call
    trainer = Trainer(build_model(config, rnn_mode), config)
    model = trainer.model
    cells = [layer.cell for layer in model.rnn_layers]
    softmax_w, softmax_b = model.softmax_weights()
    weights = {"embedding": model.embedding.embeddings.numpy(),
               "softmax_w": np.asarray(softmax_w), "softmax_b": np.asarray(softmax_b)}
    for index, cell in enumerate(cells):
        weights[f"kernel_{index}"] = cell.kernel.numpy()
        weights[f"recurrent_kernel_{index}"] = cell.recurrent_kernel.numpy()
        weights[f"bias_{index}"] = cell.bias.numpy()
    np.savez(weights_file, **weights)
    state = model.zero_state(config.batch_size)
    costs, norms = [], []
    for inputs, targets in window_dataset(corpus.train, config.batch_size,
                                          config.num_steps).take(STEPS):
        _, cost, state, _, norm = trainer.train_steps(
            inputs[None], targets[None], tf.constant(1), state)
        costs.append(float(cost))
        norms.append(float(norm))
    return costs, norms


@pytest.mark.slow
@pytest.mark.parametrize("rnn_mode", ["keras", "unrolled"])
def test_ptb_tf_trains_as_the_tutorials_tf1_graph(tiny_corpus_path, corpus,
                                                  tmp_path, rnn_mode):
    # A clip norm far below the first steps' gradient norms: every step
    # clips, so the norm (an embedding row once per occurrence) must agree.
    config = tiny_config(corpus, max_grad_norm=0.05)
    weights_file = tmp_path / "weights.npz"
    costs, norms = ptb_tf_costs(corpus, config, rnn_mode, weights_file)
    assert min(norms) > 4 * config.max_grad_norm, norms
    config_file = tmp_path / "config.json"
    config_file.write_text(config.to_json())
    result = run_python(
        TOOL, f"--data_path={tiny_corpus_path}", f"--config_json={config_file}",
        f"--init_from={weights_file}", "--epochs=1", f"--max_steps={STEPS}",
        "--print_costs", "--skip_test",
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = [float(cost) for cost in
                 re.findall(r"^step cost: (\S+)$", result.stdout, re.M)]
    assert len(reference) == STEPS, result.stdout
    # The first cost checks the forward pass, the later ones every update.
    np.testing.assert_allclose(costs, reference, rtol=1e-5)
    # The updates do show in the later costs: without them they differ.
    frozen, _ = ptb_tf_costs(corpus, dataclasses.replace(config, learning_rate=0.0),
                             rnn_mode, tmp_path / "frozen.npz")
    np.testing.assert_allclose(frozen[0], costs[0], rtol=1e-5)
    assert max(abs(a - b) / b for a, b in zip(frozen[1:], reference[1:])) > 1e-4


@pytest.mark.slow
def test_a_stopped_reference_run_resumes_to_the_uninterrupted_result(
        tiny_corpus_path, corpus, tmp_path):
    # keep_prob 1: without dropout's random streams (which a TensorFlow 1
    # checkpoint does not hold) a resumed run is the uninterrupted one.
    config_file = tmp_path / "config.json"
    config_file.write_text(tiny_config(corpus).to_json())
    command = [TOOL, f"--data_path={tiny_corpus_path}",
               f"--config_json={config_file}", "--epochs=2", "--save_every=3"]
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")

    def run(*args):
        result = run_python(*command, *args, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    run(f"--save_path={tmp_path / 'whole'}",
        f"--results_file={tmp_path / 'whole.json'}")
    parts = tmp_path / "parts"
    # 10 batches an epoch: the first part stops at epoch 1's batch 4, off
    # the save interval; the second runs on across the epoch's end.
    first = run(f"--save_path={parts}", "--stop_after=4")
    assert "Stopped after 4 batches" in first and "Valid" not in first, first
    second = run(f"--save_path={parts}", "--stop_after=9")
    assert "Resuming from model.ckpt-2: epoch 1, batch 4" in second, second
    assert "Epoch: 1 Valid Perplexity" in second, second
    assert "Stopped after 9 batches" in second, second
    third = run(f"--save_path={parts}", f"--results_file={tmp_path / 'parts.json'}")
    assert "epoch 2, batch 3" in third and "Test Perplexity" in third, third

    whole = json.loads((tmp_path / "whole.json").read_text())
    resumed = json.loads((tmp_path / "parts.json").read_text())
    assert len(resumed["epochs"]) == 2
    for key in ("train_perplexity", "valid_perplexity"):
        np.testing.assert_allclose([e[key] for e in resumed["epochs"]],
                                   [e[key] for e in whole["epochs"]], rtol=1e-6)
    np.testing.assert_allclose(resumed["test_perplexity"],
                               whole["test_perplexity"], rtol=1e-6)
    # Old saves are removed: only the last one is left.
    assert sorted(path.name for path in parts.glob("model.ckpt-*")) == [
        "model.ckpt-9.data-00000-of-00001", "model.ckpt-9.index"]


def test_a_reference_run_refuses_a_folder_another_run_saves_into(
        tiny_corpus_path, tmp_path):
    from ptb_tf import run_lock  # pylint: disable=import-outside-toplevel
    folder = tmp_path / "run"
    folder.mkdir()
    run_lock.acquire(str(folder))
    try:
        result = run_python(TOOL, f"--data_path={tiny_corpus_path}",
                            f"--save_path={folder}", timeout=120)
    finally:
        run_lock.release(str(folder))
    assert result.returncode == 1
    assert "is in use by another training" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "progress.json").exists()
