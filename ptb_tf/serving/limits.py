"""How large a request to an export may be: set at export, kept in the export.

A request names sizes the server then allocates (a batch of states, a number
of words to generate, a padded [batch, words] block whose logits are
[batch, words, vocabulary]), so every such size has a bound. The bounds are
chosen at export (`python -m ptb_tf.export --max_batch_size=...`), written to
the export's metadata file, checked inside each signature before anything of
that size is allocated, and read by the generate and score tools so that they
cut their own requests to fit.

Pure Python, so that command-line tools check flags before TensorFlow starts.
"""

import dataclasses
from typing import Any, Dict

from ptb_tf.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Limits:
    """The largest request an export answers.

    max_batch_size: sequences per request (B of [B, T] and of step's [B]),
        and batch_size of zero_state/start_state.
    max_sequence_length: words per sequence (T of [B, T]).
    max_num_words: words one generate request may ask for.
    top_k of generate is bounded by the vocabulary size.
    """
    max_batch_size: int = 64
    max_sequence_length: int = 200
    max_num_words: int = 1000

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UsageError(f"--{field.name} must be a whole number >= 1. "
                                 f"Received: {field.name}={value}")

    def to_dict(self) -> Dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "Limits":
        """Limits from an export's metadata; an export written before limits
        existed gets the defaults (its signatures check none of them)."""
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in values.items()
                      if name in known})


DEFAULT = Limits()
