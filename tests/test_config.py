"""The tutorial's configs, the flagfiles that hold them, and the schedule."""

import dataclasses
import os

from absl import flags
import pytest
from tests.helpers import REPO_ROOT

from ptb_tf import train
from ptb_tf.config import PRESETS, Config, learning_rate_for_epoch
from ptb_tf.errors import UsageError


# The reference page's table, column for column.
TUTORIAL_TABLE = {
    "small": (0.1, 1.0, 5, 2, 20, 200, 4, 13, 1.0, 0.5, 20, 10000),
    "medium": (0.05, 1.0, 5, 2, 35, 650, 6, 39, 0.5, 0.8, 20, 10000),
    "large": (0.04, 1.0, 10, 2, 35, 1500, 14, 55, 0.35, 1 / 1.15, 20, 10000),
    "test": (0.1, 1.0, 1, 1, 2, 2, 1, 1, 1.0, 0.5, 20, 10000),
}
COLUMNS = ("init_scale", "learning_rate", "max_grad_norm", "num_layers",
           "num_steps", "hidden_size", "max_epoch", "max_max_epoch",
           "keep_prob", "lr_decay", "batch_size", "vocab_size")


def parse(*argv):
    flag_values = flags.FlagValues()
    train.define_flags(flag_values)
    flag_values(["train", *argv])
    return train.config_from_flags(flag_values)


@pytest.mark.parametrize("name", sorted(TUTORIAL_TABLE))
def test_presets_are_the_tutorials(name):
    expected = dict(zip(COLUMNS, TUTORIAL_TABLE[name]))
    values = PRESETS[name].to_dict()
    assert {column: values[column] for column in COLUMNS} == pytest.approx(
        expected)
    # The options beyond the tutorial default to its model.
    assert {key: values[key] for key in values if key not in COLUMNS} == {
        "cell": "lstm", "tie_embeddings": False, "dropout": "standard",
        "embedding_dropout": 0.0, "softmax": "full", "num_sampled": 1024}


@pytest.mark.parametrize("name", sorted(TUTORIAL_TABLE))
def test_flagfile_holds_the_preset_with_a_comment_per_value(name):
    path = os.path.join(REPO_ROOT, "ptb_tf", "presets", f"{name}.flags")
    # Parsed on top of another preset, the flagfile alone decides every value.
    other = "test" if name != "test" else "large"
    assert parse(f"--model={other}", f"--flagfile={path}") == PRESETS[name]
    lines = open(path).read().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("--"):
            assert lines[index - 1].startswith("#"), f"no comment above {line}"
    assert sum(line.startswith("--") for line in lines) == len(COLUMNS)


def test_model_flag_and_later_flags_win():
    assert parse("--model=medium") == PRESETS["medium"]
    small = os.path.join(REPO_ROOT, "ptb_tf", "presets", "small.flags")
    config = parse(f"--flagfile={small}", "--num_layers=3")
    assert config == dataclasses.replace(PRESETS["small"], num_layers=3)


def test_learning_rate_schedule():
    small = PRESETS["small"]  # max_epoch 4, lr_decay 0.5
    rates = [learning_rate_for_epoch(small, epoch) for epoch in range(7)]
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]
    medium = PRESETS["medium"]  # max_epoch 6, lr_decay 0.8
    assert learning_rate_for_epoch(medium, 5) == 1.0
    assert learning_rate_for_epoch(medium, 38) == pytest.approx(0.8 ** 33)


@pytest.mark.parametrize("preset", ["small", "medium", "large"])
def test_max_epoch_one_higher_is_the_first_tutorials_schedule(preset):
    """docs/configs.md: the tutorial's first version, whose results table it
    kept, set epoch i's rate to lr_decay ** max(i - max_epoch, 0)."""
    config = PRESETS[preset]
    first = dataclasses.replace(config, max_epoch=config.max_epoch + 1)
    for epoch in range(config.max_max_epoch):
        assert learning_rate_for_epoch(first, epoch) == pytest.approx(
            config.learning_rate
            * config.lr_decay ** max(epoch - config.max_epoch, 0))


@pytest.mark.parametrize("field, value, message", [
    ("num_steps", 0, "--num_steps must be a whole number >= 1. Received: num_steps=0"),
    ("batch_size", -1, "--batch_size must be"),
    ("keep_prob", 0.0, r"--keep_prob must be in \(0, 1\]"),
    ("keep_prob", 1.5, r"--keep_prob must be in \(0, 1\]"),
    ("learning_rate", 0.0, "--learning_rate must be a finite number > 0"),
    ("lr_decay", 0.0, "--lr_decay must be in"),
    ("max_grad_norm", -5.0, "--max_grad_norm must be a finite number > 0"),
    ("hidden_size", 0, "--hidden_size must be"),
])
def test_out_of_range_values_are_rejected(field, value, message):
    with pytest.raises(UsageError, match=message):
        dataclasses.replace(Config(), **{field: value}).validate()


def test_unknown_model():
    with pytest.raises(UsageError, match="--model must be one of small"):
        parse("--model=huge")


def test_every_hyper_parameter_has_its_help_once():
    from ptb_tf.config import HELP, HYPERPARAMETERS  # pylint: disable=import-outside-toplevel
    assert list(HELP) == list(HYPERPARAMETERS)
    assert all(text.endswith((".", ")")) for text in HELP.values())
