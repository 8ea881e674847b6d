"""Text files to tokens and back: plain, .gz or .zip, words or characters.

No TensorFlow: the tools read prompts and corpora before it starts.
"""

import gzip
import os
import zipfile
import zlib
from typing import List

from ptb_tf.corpus.vocab import EOS
from ptb_tf.errors import UserError, reason


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
    """The bytes of a file, uncompressed if it is a .gz or a .zip; UserError
    if it cannot be read (no permission, a damaged or encrypted archive)."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as compressed:
                return compressed.read()
        if path.endswith(".zip"):
            return _zip_member(path)
        with open(path, "rb") as data_file:
            return data_file.read()
    except PermissionError:
        raise UserError(f"cannot read {path}: permission denied; make it "
                        "readable or give another file") from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise UserError(f"cannot read {path}: {reason(error)}; give an "
                        "intact .gz or .zip, or plain text") from None


def _zip_member(path: str) -> bytes:
    """The one file of a .zip archive."""
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            raise UserError(f"{path} holds {len(members)} files; a .zip of "
                            "text must hold exactly one")
        if members[0].flag_bits & 0x1:
            raise UserError(f"{path} is encrypted; give it unencrypted")
        try:
            return archive.read(members[0])
        except NotImplementedError as error:  # a compression zipfile lacks
            raise UserError(f"cannot read {path}: {reason(error)}; zip it "
                            "with deflate, or give plain text") from None



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
