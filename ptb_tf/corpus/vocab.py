"""The word <-> id mapping, in the tutorial's order, saved as `vocab.txt`."""

import collections
from typing import Iterable, List, Sequence

import numpy as np

from ptb_tf.errors import UserError
from ptb_tf.files import atomic_write_text

EOS = "<eos>"  # stands for every line break
UNK = "<unk>"  # PTB's own token for rare words; unknown words map to it


class Vocabulary:
    """Ids 0..V-1 for the words of a training corpus.

    Order (the tutorial's `_build_vocab`): descending count, ties by the word
    in ascending order. `<unk>` is always present, so any word can be encoded.
    """

    def __init__(self, words: Sequence[str]):
        self.words: List[str] = list(words)
        self.ids = {word: index for index, word in enumerate(self.words)}
        if len(self.ids) != len(self.words):
            raise UserError("the vocabulary lists a word twice; "
                            "rebuild vocab.txt from the training file")
        if UNK not in self.ids:
            raise UserError(f"the vocabulary has no {UNK}; "
                            "rebuild vocab.txt from the training file")
        self.unk_id = self.ids[UNK]

    @classmethod
    def build(cls, tokens: Iterable[str], max_size: int = 0,
              min_count: int = 1) -> "Vocabulary":
        """The vocabulary of a training corpus, `<unk>` added if absent.

        Keeps the max_size most frequent tokens (0: all), `<unk>` among them,
        and only tokens seen at least min_count times; the rest will encode
        as `<unk>`.
        """
        counts = collections.Counter(tokens)
        words = sorted((word for word in counts if counts[word] >= min_count
                        or word == UNK),
                       key=lambda word: (-counts[word], word))
        if UNK not in words:
            words.append(UNK)  # never seen in training: the rarest of all
        if max_size and len(words) > max_size:
            kept = words[:max_size]
            if UNK not in kept:
                kept[-1] = UNK
            words = kept
        return cls(words)

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Returns int32 [len(tokens)] ids; unknown words become `<unk>`."""
        ids, unk = self.ids, self.unk_id
        return np.fromiter((ids.get(token, unk) for token in tokens),
                           dtype=np.int32, count=len(tokens))

    def decode(self, ids: Iterable[int]) -> List[str]:
        return [self.words[index] for index in ids]

    def save(self, path: str) -> None:
        """Writes one word per line, line i holding id i."""
        atomic_write_text(path, "".join(word + "\n" for word in self.words))

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        with open(path, encoding="utf-8", newline="\n") as vocab_file:
            # Split on "\n" only: a character-level vocabulary may hold
            # characters that str.splitlines() would also break at.
            words = vocab_file.read().split("\n")
        return cls(words[:-1] if words and words[-1] == "" else words)
