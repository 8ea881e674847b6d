"""Hyper-parameters: the tutorial's four configs and the learning-rate schedule.

`ptb_tf/presets/*.flags` (`flags/` in a clone) hold the same values with a
comment per line, for `--flagfile=`; a test keeps the two in step. Beyond
the tutorial's twelve values, a Config also names the recurrent cell,
weight tying, the dropout kind and the training softmax; their defaults are
the tutorial's model.
"""

import dataclasses
import json
import re
from typing import Any, Dict

from ptb_tf import options
from ptb_tf.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Config:
    """The tutorial's hyper-parameters (names as in `ptb_word_lm.py`).

    The descriptions below are the train command's flag help (see HELP).

    Attributes:
      init_scale: Weights start uniform(-init_scale, init_scale).
      learning_rate: SGD learning rate of the first max_epoch epochs.
      max_grad_norm: Gradients are clipped to this global norm.
      num_layers: Number of stacked recurrent layers.
      num_steps: Unrolled time steps per batch (truncated BPTT length).
      hidden_size: Units per recurrent layer; also the embedding width.
      max_epoch: Epochs at the full learning rate before decay starts.
      max_max_epoch: Total number of training epochs.
      keep_prob: Probability of keeping a unit in dropout (1 = no dropout).
      lr_decay: Learning-rate factor per epoch after max_epoch.
      batch_size: Number of parallel streams of the corpus per batch.
      vocab_size: Expected vocabulary size (0: take it from the data).
      cell: Recurrent cell: lstm, gru or rnn (a tanh RNN).
      tie_embeddings: Share the input embedding with the softmax layer
        (Press & Wolf 2017; Inan et al. 2017).
      dropout: standard (a new mask at every time step, the tutorial's) or
        variational (one mask per sequence of a batch, Gal & Ghahramani
        2016), on the same connections, rate 1 - keep_prob.
      embedding_dropout: Rate of dropping whole words from the embedding in
        training (all their occurrences in a batch).
      softmax: Training loss: full, or sampled (tf.nn.sampled_softmax_loss
        over log-uniform candidates; evaluation always uses the full
        softmax).
      num_sampled: Candidate words per batch for --softmax=sampled.
    """

    init_scale: float = 0.1
    learning_rate: float = 1.0
    max_grad_norm: float = 5.0
    num_layers: int = 2
    num_steps: int = 20
    hidden_size: int = 200
    max_epoch: int = 4
    max_max_epoch: int = 13
    keep_prob: float = 1.0
    lr_decay: float = 0.5
    batch_size: int = 20
    vocab_size: int = 10000
    # Beyond the tutorial (defaults: the tutorial's model).
    cell: str = "lstm"
    tie_embeddings: bool = False
    dropout: str = "standard"
    embedding_dropout: float = 0.0
    softmax: str = "full"
    num_sampled: int = 1024

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


def _attributes(docstring: str) -> Dict[str, str]:
    """name -> description, from a Google-style "Attributes:" section."""
    found, name = {}, None
    section = docstring.split("Attributes:", 1)[1]
    for line in section.splitlines():
        match = re.match(r"^      (\w+): (.*)$", line)
        if match:
            name, found[match.group(1)] = match.group(1), match.group(2)
        elif name and line.startswith("        "):
            found[name] += " " + line.strip()
    return found


# What each hyper-parameter means: the Config docstring's, written once.
HELP = _attributes(Config.__doc__)


def learning_rate_for_epoch(config: Config, epoch: int) -> float:
    """The tutorial's schedule; `epoch` counts from 0."""
    return config.learning_rate * config.lr_decay ** max(
        epoch + 1 - config.max_epoch, 0)
