"""Reading text corpora and laying them out like `reader.ptb_producer`.

NumPy only: the command-line tools check the data before TensorFlow starts.
"""

import dataclasses
import gzip
import os
import zipfile
from typing import List, Optional, Tuple

import numpy as np

from ptb_tf.errors import UserError
from ptb_tf.vocab import EOS, Vocabulary

SPLITS = ("train", "valid", "test")
PTB_FILES = {split: f"ptb.{split}.txt" for split in SPLITS}
LEVELS = ("word", "char")
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
        if self.level not in LEVELS:
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


def read_text(path: str) -> str:
    """A whole UTF-8 text file (plain, .gz, or a .zip of one file), with
    every line break as "\\n"."""
    if not os.path.exists(path):
        raise UserError(f"data file not found: {path}; check the data flags")
    if not os.path.isfile(path):
        raise UserError(f"{path} is not a file; check the data flags")
    raw = _read_bytes(path)
    if not raw:
        raise UserError(f"data file is empty: {path}; give a file with text")
    if b"\0" in raw:
        raise UserError(f"{path} looks binary (it has NUL bytes), not text; "
                        "give a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 text (bad byte at offset "
                        f"{error.start}); convert it to UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_bytes(path: str) -> bytes:
    """The bytes of a file, uncompressed if it is a .gz or a .zip."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as compressed:
                return compressed.read()
        if path.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                members = [name for name in archive.namelist()
                           if not name.endswith("/")]
                if len(members) != 1:
                    raise UserError(
                        f"{path} holds {len(members)} files; a .zip of text "
                        "must hold exactly one")
                return archive.read(members[0])
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"cannot read {path}: {error}; give an intact .gz "
                        "or .zip, or plain text") from None
    with open(path, "rb") as data_file:
        return data_file.read()


def tokenize(text: str, level: str = "word", name: str = "the text") -> List[str]:
    """The tokens of a text, each line break an `<eos>` token.

    word: whitespace-separated words. The tutorial did
    `f.read().replace("\\n", "<eos>").split()`, which relies on PTB's lines
    starting and ending with a space; padding `<eos>` with spaces gives the
    same tokens on PTB and the right ones on files without padding.
    char: every character, spaces included, is a token.
    """
    tokens = split_tokens(text, level)
    if all(token == EOS for token in tokens):
        raise UserError(f"{name} has no words, only blank lines; "
                        "give a file with text")
    return tokens


def split_tokens(text: str, level: str = "word") -> List[str]:
    """tokenize without its check: [] for a text with no tokens."""
    if level == "char":
        return [EOS if character == "\n" else character for character in text]
    return text.replace("\n", f" {EOS} ").split()


def join_tokens(tokens: List[str], level: str = "word") -> str:
    """Text from tokens, the inverse of tokenize: `<eos>` is a line break."""
    if level == "char":
        return "".join("\n" if token == EOS else token for token in tokens)
    return " ".join(tokens)


def read_words(path: str, level: str = "word") -> List[str]:
    """The tokens of a file (see read_text and tokenize)."""
    return tokenize(read_text(path), level, path)


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
