"""Hyper-parameters: the tutorial's four configs and the learning-rate schedule.

`flags/*.flags` hold the same values with a comment per line; a test keeps the
two in step. Beyond the tutorial's twelve values, a Config also names the
recurrent cell, weight tying, the dropout kind and the training softmax; their
defaults are the tutorial's model.
"""

import dataclasses
import json
from typing import Any, Dict

from ptb_tf import options
from ptb_tf.errors import UsageError


def _field(default: Any, help_text: str):
    """A hyper-parameter: its default and the one description of it (the
    train flag's help; see HELP)."""
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class Config:
    """The tutorial's hyper-parameters (names as in `ptb_word_lm.py`)."""

    init_scale: float = _field(
        0.1, "Weights start uniform(-init_scale, init_scale).")
    learning_rate: float = _field(
        1.0, "SGD learning rate of the first max_epoch epochs.")
    max_grad_norm: float = _field(
        5.0, "Gradients are clipped to this global norm.")
    num_layers: int = _field(2, "Number of stacked recurrent layers.")
    num_steps: int = _field(
        20, "Unrolled time steps per batch (truncated BPTT length).")
    hidden_size: int = _field(
        200, "Units per recurrent layer; also the embedding width.")
    max_epoch: int = _field(
        4, "Epochs at the full learning rate before decay starts.")
    max_max_epoch: int = _field(13, "Total number of training epochs.")
    keep_prob: float = _field(
        1.0, "Probability of keeping a unit in dropout (1 = no dropout).")
    lr_decay: float = _field(
        0.5, "Learning-rate factor per epoch after max_epoch.")
    batch_size: int = _field(
        20, "Number of parallel streams of the corpus per batch.")
    vocab_size: int = _field(
        10000, "Expected vocabulary size (0: take it from the data).")
    # Beyond the tutorial (defaults: the tutorial's model).
    cell: str = _field("lstm", "Recurrent cell: lstm, gru or rnn (a tanh RNN).")
    tie_embeddings: bool = _field(
        False, "Share the input embedding with the softmax layer (Press & "
        "Wolf 2017; Inan et al. 2017).")
    dropout: str = _field(
        "standard", "standard (a new mask at every time step, the "
        "tutorial's) or variational (one mask per sequence of a batch, Gal & "
        "Ghahramani 2016), on the same connections, rate 1 - keep_prob.")
    embedding_dropout: float = _field(
        0.0, "Rate of dropping whole words from the embedding in training "
        "(all their occurrences in a batch).")
    softmax: str = _field(
        "full", "Training loss: full, or sampled (tf.nn.sampled_softmax_loss "
        "over log-uniform candidates; evaluation always uses the full "
        "softmax).")
    num_sampled: int = _field(
        1024, "Candidate words per batch for --softmax=sampled.")

    def validate(self) -> "Config":
        """Returns self, or raises UsageError naming the first bad value."""
        positive_ints = ("num_layers", "num_steps", "hidden_size",
                         "max_max_epoch", "batch_size")
        for name in positive_ints:
            _check(name, getattr(self, name), getattr(self, name) >= 1,
                   "must be a whole number >= 1")
        _check("max_epoch", self.max_epoch, self.max_epoch >= 0,
               "must be a whole number >= 0")
        _check("vocab_size", self.vocab_size, self.vocab_size >= 0,
               "must be >= 0 (0 takes it from the data)")
        for name in ("init_scale", "learning_rate", "max_grad_norm"):
            # inf passes "> 0" but clips nothing and overflows the update.
            _check(name, getattr(self, name),
                   0 < getattr(self, name) < float("inf"),
                   "must be a finite number > 0")
        # Keras's Dropout takes rate = 1 - keep_prob < 1: a keep_prob so small
        # that 1 - keep_prob rounds to 1 would fail inside TensorFlow.
        _check("keep_prob", self.keep_prob, 0 < self.keep_prob <= 1,
               "must be in (0, 1]")
        _check("keep_prob", self.keep_prob, 1 - self.keep_prob < 1,
               "is so small that the dropout rate 1 - keep_prob rounds to 1; "
               "keep at least 1e-7")
        _check("lr_decay", self.lr_decay, 0 < self.lr_decay <= 1,
               "must be in (0, 1]")
        for name, choices in CHOICES.items():
            _check(name, getattr(self, name), getattr(self, name) in choices,
                   f"must be one of {', '.join(choices)}")
        _check("embedding_dropout", self.embedding_dropout,
               0 <= self.embedding_dropout < 1, "must be in [0, 1)")
        _check("num_sampled", self.num_sampled, self.num_sampled >= 1,
               "must be a whole number >= 1")
        if (self.softmax == "sampled" and self.vocab_size
                and self.num_sampled >= self.vocab_size):
            raise UsageError(
                f"--num_sampled={self.num_sampled} must be below the "
                f"vocabulary size {self.vocab_size}; sample fewer words or "
                "use --softmax=full")
        return self

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "Config":
        """A Config from to_dict()'s values; missing names take the defaults
        (a run saved before they existed)."""
        return cls(**values)


def _check(name: str, value: Any, ok: bool, requirement: str) -> None:
    if not ok:
        raise UsageError(f"--{name} {requirement}. Received: {name}={value}")


PRESETS: Dict[str, Config] = {
    "small": Config(),
    "medium": Config(init_scale=0.05, learning_rate=1.0, max_grad_norm=5.0,
                     num_layers=2, num_steps=35, hidden_size=650,
                     max_epoch=6, max_max_epoch=39, keep_prob=0.5,
                     lr_decay=0.8, batch_size=20, vocab_size=10000),
    "large": Config(init_scale=0.04, learning_rate=1.0, max_grad_norm=10.0,
                    num_layers=2, num_steps=35, hidden_size=1500,
                    max_epoch=14, max_max_epoch=55, keep_prob=0.35,
                    lr_decay=1 / 1.15, batch_size=20, vocab_size=10000),
    "test": Config(init_scale=0.1, learning_rate=1.0, max_grad_norm=1.0,
                   num_layers=1, num_steps=2, hidden_size=2, max_epoch=1,
                   max_max_epoch=1, keep_prob=1.0, lr_decay=0.5,
                   batch_size=20, vocab_size=10000),
}

# The string-valued hyper-parameters and what each may be.
CHOICES = {"cell": options.CELLS, "dropout": options.DROPOUTS,
           "softmax": options.SOFTMAXES}

HYPERPARAMETERS = tuple(field.name for field in dataclasses.fields(Config))
# What each hyper-parameter means, from its field.
HELP = {field.name: field.metadata["help"] for field in dataclasses.fields(Config)}


def learning_rate_for_epoch(config: Config, epoch: int) -> float:
    """The tutorial's schedule; `epoch` counts from 0."""
    return config.learning_rate * config.lr_decay ** max(
        epoch + 1 - config.max_epoch, 0)
