"""The tutorial's `ptb_producer` arithmetic: rows, batches, chunks.

NumPy only (ptb_tf.corpus.datasets builds the tf.data pipeline on it).
"""


import numpy as np

from ptb_tf.errors import UserError


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cuts a corpus into `batch_size` contiguous rows, dropping the remainder.

    ids: int [num_tokens] -> int [batch_size, num_tokens // batch_size]

        corpus:  a b c d e f g h i j k        (batch_size 3)
        rows:    a b c
                 d e f
                 g h i                        (j k dropped)
    """
    batch_len = len(ids) // batch_size
    return np.reshape(ids[:batch_size * batch_len], [batch_size, batch_len])


def num_batches(num_tokens: int, batch_size: int, num_steps: int) -> int:
    """The tutorial's `epoch_size`: full windows, with one token kept for targets."""
    return (num_tokens // batch_size - 1) // num_steps


def check_batchable(name: str, num_tokens: int, batch_size: int,
                    num_steps: int) -> None:
    """Raises UserError unless the corpus fills at least one batch."""
    if num_batches(num_tokens, batch_size, num_steps) <= 0:
        needed = batch_size * (num_steps + 1)
        raise UserError(
            f"the {name} data has {num_tokens} tokens, too few for one batch of "
            f"batch_size={batch_size} x num_steps={num_steps} (needs at least "
            f"{needed}); use more text or smaller --batch_size/--num_steps")


def chunk_size(ids: np.ndarray, batch_size: int, num_steps: int,
               checkpoint_every: int = 0) -> int:
    """Batches per compiled call: a tenth of the pass (one progress line),
    or fewer to checkpoint every `checkpoint_every` batches."""
    tenth = -(-num_batches(len(ids), batch_size, num_steps) // 10)
    return min(tenth, checkpoint_every) if checkpoint_every > 0 else tenth
