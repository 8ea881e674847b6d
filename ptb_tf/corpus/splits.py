"""A corpus: where its text comes from (DataSpec) and its three splits as ids.

NumPy only: the command-line tools check the data before TensorFlow starts.
"""

import dataclasses
import os
from typing import Optional, Tuple

import numpy as np

from ptb_tf import options
from ptb_tf.corpus.text import read_words
from ptb_tf.corpus.vocab import Vocabulary
from ptb_tf.errors import UserError


SPLITS = ("train", "valid", "test")


PTB_FILES = {split: f"ptb.{split}.txt" for split in SPLITS}




# How --text_file is cut, in order, into train / valid / test tokens.
DEFAULT_SPLIT = (0.9, 0.05, 0.05)


@dataclasses.dataclass
class Corpus:
    """A vocabulary and the three splits as int32 [num_tokens] id arrays,
    and the level ("word" or "char") their tokens were read at."""

    vocab: Vocabulary
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    level: str = "word"


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Where a corpus comes from and how its text becomes tokens.

    Exactly one source: data_path (a folder with PTB's three file names),
    the three *_file paths, or text_file (one text cut by `split`, fractions
    of its tokens in order). level "word" splits on whitespace; "char" makes
    every character a token. At either level each line break is an `<eos>`.
    The vocabulary comes from the training text: at most max_vocab_size
    tokens (0: all), each seen at least min_count times; the rest become
    `<unk>`. Files may be plain, .gz or .zip (one member), all UTF-8.
    """

    data_path: Optional[str] = None
    train_file: Optional[str] = None
    valid_file: Optional[str] = None
    test_file: Optional[str] = None
    text_file: Optional[str] = None
    split: Tuple[float, ...] = DEFAULT_SPLIT
    level: str = "word"
    max_vocab_size: int = 0
    min_count: int = 1

    def problem(self) -> Optional[str]:
        """What is wrong with these options (a flag-level message), or None."""
        files = (self.train_file, self.valid_file, self.test_file)
        sources = [bool(self.data_path), any(files), bool(self.text_file)]
        if sum(sources) != 1:
            return ("give the data one way: --data_path (a folder with "
                    "ptb.train.txt, ptb.valid.txt, ptb.test.txt), or "
                    "--train_file, --valid_file and --test_file, or --text_file")
        if any(files) and not all(files):
            return ("--train_file, --valid_file and --test_file go together: "
                    "give all three")
        if self.level not in options.LEVELS:
            return f"--level must be word or char. Received: level={self.level}"
        if (len(self.split) != 3 or any(part <= 0 for part in self.split)
                or abs(sum(self.split) - 1) > 1e-6):
            return ("--split must be three positive fractions that sum to 1 "
                    "(train, valid, test). Received: split="
                    + ",".join(map(str, self.split)))
        if self.max_vocab_size < 0 or self.max_vocab_size == 1:
            return ("--max_vocab_size must be 0 (no cap) or >= 2. Received: "
                    f"max_vocab_size={self.max_vocab_size}")
        if self.min_count < 1:
            return f"--min_count must be >= 1. Received: min_count={self.min_count}"
        return None


def load_corpus(source) -> Corpus:
    """Reads a corpus: `source` is a DataSpec, or the path of a folder
    holding ptb.{train,valid,test}.txt.

    The vocabulary comes from the training text only; tokens of the other
    splits that it lacks become `<unk>`.
    """
    spec = source if isinstance(source, DataSpec) else DataSpec(data_path=source)
    if spec.text_file:
        tokens = read_words(spec.text_file, spec.level)
        train_end = int(len(tokens) * spec.split[0])
        valid_end = train_end + int(len(tokens) * spec.split[1])
        words = {"train": tokens[:train_end],
                 "valid": tokens[train_end:valid_end],
                 "test": tokens[valid_end:]}
        for split in SPLITS:
            if not words[split]:
                raise UserError(
                    f"--text_file={spec.text_file} has {len(tokens)} tokens, "
                    f"too few to give the {split} split any; use more text")
    else:
        if spec.data_path:
            if not os.path.isdir(spec.data_path):
                raise UserError(
                    f"data folder not found: {spec.data_path}; pass "
                    "--data_path=a folder holding ptb.train.txt, "
                    "ptb.valid.txt and ptb.test.txt")
            paths = {split: os.path.join(spec.data_path, PTB_FILES[split])
                     for split in SPLITS}
        else:
            paths = {"train": spec.train_file, "valid": spec.valid_file,
                     "test": spec.test_file}
        words = {split: read_words(paths[split], spec.level) for split in SPLITS}
    vocab = Vocabulary.build(words["train"], max_size=spec.max_vocab_size,
                             min_count=spec.min_count)
    return Corpus(vocab=vocab, level=spec.level,
                  **{split: vocab.encode(words[split]) for split in SPLITS})
