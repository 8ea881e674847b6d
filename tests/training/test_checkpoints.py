"""Damaged and lost checkpoints: what a power cut or a careless `rm` leaves.

The newest checkpoint truncated or zeroed (its .data or its .index): resuming
skips it for the one before, says so, and ends with the uninterrupted run's
results; export does the same. A lost `checkpoint` index file is rebuilt
from the ckpt-N files, never a silent start from scratch.
"""

import os

import pytest
from tests.helpers import nth_line_in_epoch, run_until, tiny_config

from ptb_tf.errors import UserError
from ptb_tf.training import checkpoints, train_and_evaluate
from ptb_tf.training.models import load_model

OPTIONS = dict(rnn_mode="unrolled", checkpoint_every=3)


def config_of(corpus):
    # Dropout on: the resumed run must also continue the random numbers.
    return tiny_config(corpus, max_max_epoch=2, keep_prob=0.5)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run's results."""
    from ptb_tf.corpus.splits import load_corpus  # pylint: disable=import-outside-toplevel
    from tests.helpers import write_corpus  # pylint: disable=import-outside-toplevel
    root = tmp_path_factory.mktemp("straight")
    corpus = load_corpus(write_corpus(root / "data"))
    return train_and_evaluate(config_of(corpus), corpus,
                              save_path=str(root / "run"), log=lambda _: None,
                              **OPTIONS)


def stopped_in_epoch_2(corpus, save_path):
    """A run stopped after its second progress line with a save in epoch 2;
    returns the newest checkpoint's path."""
    run_until(config_of(corpus), corpus, save_path,
              nth_line_in_epoch(2, 2, "(saved"), **OPTIONS)
    return checkpoints.newest_first(save_path)[0]


def damage(path, part, size):
    """Truncates ckpt-N's .index or .data file to half its size or to 0."""
    name = path + (".index" if part == "index" else ".data-00000-of-00001")
    with open(name, "r+b") as damaged:
        damaged.truncate(os.path.getsize(name) // 2 if size == "half" else 0)


@pytest.mark.slow
@pytest.mark.parametrize("part", ["data", "index"])
@pytest.mark.parametrize("size", ["half", "zero"])
def test_a_damaged_newest_checkpoint_is_skipped_and_the_run_ends_as_if_whole(
        corpus, tmp_path, straight, part, size):
    save_path = str(tmp_path / "run")
    newest = stopped_in_epoch_2(corpus, save_path)
    older = checkpoints.newest_first(save_path)[1]
    damage(newest, part, size)
    lines = []
    resumed = train_and_evaluate(config_of(corpus), corpus,
                                 save_path=save_path, log=lines.append,
                                 **OPTIONS)
    assert lines[0].startswith(f"Skipped {newest}: it cannot be read ("), lines
    assert lines[1].startswith(f"Resuming from {older}: epoch 2"), lines
    for key in ("train_perplexity", "valid_perplexity"):
        assert ([e[key] for e in resumed["epochs"]]
                == [e[key] for e in straight["epochs"]]), key
    assert resumed["test_perplexity"] == straight["test_perplexity"]
    assert resumed["weights_sha256"] == straight["weights_sha256"]


def test_export_skips_a_damaged_best_checkpoint_and_says_so(corpus, tmp_path,
                                                            capsys):
    save_path = str(tmp_path / "run")
    train_and_evaluate(config_of(corpus), corpus, save_path=save_path,
                       log=lambda _: None, **OPTIONS)
    best = checkpoints.candidates(save_path, "best")[0]
    assert os.path.dirname(best).endswith("best")
    damage(best, "data", "half")
    model = load_model(save_path)
    assert f"Skipped {best}: it cannot be read" in capsys.readouterr().err
    assert model.num_layers == 2
    for path in checkpoints.newest_first(save_path):
        damage(path, "index", "zero")
    with pytest.raises(UserError, match=r"cannot load the model: no checkpoint "
                                        r"there can be read \(ckpt-\d+, "):
        load_model(save_path)


@pytest.mark.slow
def test_a_lost_checkpoint_index_is_rebuilt_not_a_silent_restart(
        corpus, tmp_path, straight):
    save_path = str(tmp_path / "run")
    newest = stopped_in_epoch_2(corpus, save_path)
    os.remove(os.path.join(save_path, "checkpoint"))
    lines = []
    resumed = train_and_evaluate(config_of(corpus), corpus,
                                 save_path=save_path, log=lines.append,
                                 **OPTIONS)
    assert lines[0].startswith(
        f"Rebuilt the lost checkpoint index of {save_path} from "), lines
    assert lines[1].startswith(f"Resuming from {newest}: epoch 2"), lines
    assert resumed["test_perplexity"] == straight["test_perplexity"]
    assert resumed["weights_sha256"] == straight["weights_sha256"]
