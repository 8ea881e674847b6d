"""What a run shows while it trains: log lines, a progress bar, TensorBoard."""

import glob
import math
import os

import pytest
import tensorflow as tf
from tests.helpers import run_module, tiny_config, train_tiny

from ptb_tf.training import summaries


SCALARS = ("train/loss", "train/perplexity", "train/gradient_global_norm",
           "train/words_per_second", "train/learning_rate",
           "train/epoch_perplexity", "valid/perplexity", "test/perplexity")


def read_scalars(logdir):
    """The test's own reader: tag -> [(step, value)] from every event file
    (tf.compat.v1.train.summary_iterator), to check summaries.read_scalars."""
    found = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    return found


@pytest.mark.slow
def test_tensorboard_scalars_hold_the_run(corpus, tmp_path):
    config = tiny_config(corpus, max_max_epoch=2, max_grad_norm=0.5)
    run = tmp_path / "run"
    results = train_tiny(config, corpus, save_path=str(run),
                         log=lambda _: None, checkpoint_every=2)
    scalars = read_scalars(os.path.join(run, "logs"))
    assert set(SCALARS) <= set(scalars)
    assert summaries.read_scalars(os.path.join(run, "logs")) == scalars
    total = 10  # batches per epoch of the tiny corpus
    valid = scalars["valid/perplexity"]
    assert [step for step, _ in valid] == [total, 2 * total]
    assert [value for _, value in valid] == pytest.approx(
        [epoch["valid_perplexity"] for epoch in results["epochs"]], rel=1e-6)
    assert scalars["test/perplexity"][0][1] == pytest.approx(
        results["test_perplexity"], rel=1e-6)
    assert [value for _, value in scalars["train/learning_rate"]][-1] == 0.5
    # One point per compiled chunk, x = global batch.
    steps = [step for step, _ in scalars["train/loss"]]
    assert steps == sorted(steps) and steps[-1] == 2 * total
    for (_, loss), (_, perplexity) in zip(scalars["train/loss"],
                                          scalars["train/perplexity"]):
        assert perplexity == pytest.approx(math.exp(loss), rel=1e-5)
    # The norm before clipping: positive, and above the clip at the start.
    norms = [value for _, value in scalars["train/gradient_global_norm"]]
    assert all(norm > 0 for norm in norms) and norms[0] > 0.5
    assert all(rate > 0 for _, rate in scalars["train/words_per_second"])


@pytest.mark.slow
@pytest.mark.parametrize("verbosity, expected", [
    (0, ["Test"]),
    (1, ["Epoch: 1 Learning", "Epoch: 1 Train", "Epoch: 1 Valid", "Test"]),
    (2, ["Epoch: 1 Learning", "progress", "Epoch: 1 Train", "Epoch: 1 Valid",
         "Test"]),
])
def test_verbosity(corpus, verbosity, expected):
    lines = []
    train_tiny(tiny_config(corpus, max_max_epoch=1), corpus,
               log=lines.append, verbosity=verbosity)

    def kind(line):
        if line[:2] in ("0.", "1."):  # "0.300 perplexity: ... speed: ..."
            return "progress"
        return next(prefix for prefix in expected if line.startswith(prefix))

    kinds = []
    for line in lines:
        if not kinds or kinds[-1] != kind(line):
            kinds.append(kind(line))
    assert kinds == expected
    if verbosity == 2:  # the tutorial's progress lines: about ten
        assert 5 <= sum(kind(line) == "progress" for line in lines) <= 11


@pytest.mark.slow
def test_progress_bar_and_verbosity_from_the_command_line(tiny_corpus_path):
    def train(flag):
        result = run_module("train", f"--data_path={tiny_corpus_path}",
                            "--model=test", "--vocab_size=0", "--batch_size=4",
                            "--num_steps=3", "--hidden_size=4", flag)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    shown = train("--progress=bar")
    # Keras's Progbar (not a terminal: one line per update, "n/total").
    assert "perplexity:" in shown and "words/s:" in shown
    assert " speed: " not in shown  # no tutorial lines as well
    assert "Epoch: 1 Valid Perplexity:" in shown
    # absl's --verbosity quietens: -2 leaves the result line alone.
    quiet = train("--verbosity=-2")
    assert quiet.startswith("Test Perplexity:")
    assert len(quiet.splitlines()) == 1
