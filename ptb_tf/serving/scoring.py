"""Scoring text through a model's signatures, in memory bounded by --window.

The text is read a block at a time and cut into Pieces: a line whole, or a
line longer than `window` tokens in pieces of `window` tokens, cut between
tokens. A cut line is scored piece by piece with the recurrent state carried
(the same numbers as the whole line in one request), so memory depends on
the window, not on the input: a 50 MB line costs what a short one does.
No TensorFlow at import (the Scorer imports it when built).
"""

import codecs
import dataclasses
import re
from typing import BinaryIO, Iterable, Iterator, List, Tuple

import numpy as np

from ptb_tf.corpus.text import split_tokens
from ptb_tf.corpus.vocab import EOS
from ptb_tf.errors import UserError
from ptb_tf.serving import limits as limits_lib

# Bytes read at a time; a line longer than this arrives in several reads.
READ_BYTES = 1 << 16
# What the report shows of a line cut into pieces: its start.
SHOWN_CHARACTERS = 100


@dataclasses.dataclass
class Piece:
    """The tokens of a line, or of a part of a long one.

    tokens: `<eos>` last when the piece ends its line. text: the line's text
    (of a cut line, its first SHOWN_CHARACTERS and " ..."). number: the
    line's number, from 1.
    """

    tokens: List[str]
    text: str
    ends_line: bool
    number: int


def read_pieces(stream: BinaryIO, level: str = "word", window: int = 1000,
                name: str = "--input") -> Iterator[Piece]:
    """The Pieces of a UTF-8 stream's lines (line breaks "\\n" or "\\r\\n").

    UserError at a line that is not UTF-8. Holds at most one read, one
    window of tokens and the start of the current line.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    number, tokens, carry, parts, cut, open_line = 1, [], "", [], False, False
    while True:
        raw = stream.readline(READ_BYTES)
        if not raw and not open_line:
            return
        ends = raw.endswith(b"\n") or not raw  # the end of the stream ends it
        try:
            text = carry + decoder.decode(raw[:-1] if raw.endswith(b"\n")
                                          else raw, final=ends)
        except UnicodeDecodeError:
            raise UserError(f"line {number} of {name} is not UTF-8 text; "
                            "convert it to UTF-8") from None
        if ends:
            text, carry = text.rstrip("\r"), ""
        else:
            text, carry = _hold_back(text, level)
        # All of a whole line; of a cut one, what the report shows.
        if not cut or sum(map(len, parts)) <= SHOWN_CHARACTERS:
            parts.append(text)
        tokens.extend(split_tokens(text, level))
        open_line = not ends
        while not ends and len(tokens) >= window:
            cut = True
            yield Piece(tokens[:window], _shown(parts, cut), False, number)
            tokens = tokens[window:]
        if ends:
            yield Piece(tokens + [EOS], _shown(parts, cut), True, number)
            number, tokens, parts, cut = number + 1, [], [], False


def _shown(parts: List[str], cut: bool) -> str:
    text = "".join(parts)
    return text[:SHOWN_CHARACTERS] + " ..." if cut else text


def _hold_back(text: str, level: str) -> Tuple[str, str]:
    """Splits off what the next read may continue: a word cut by the read
    (word level), or trailing "\\r"s that may be half of a "\\r\\n"."""
    if level == "char":
        kept = text.rstrip("\r")
        return kept, text[len(kept):]
    match = re.search(r"\S+$", text)
    return (text[:match.start()], match.group()) if match else (text, "")


class Scorer:
    """Scores Pieces through the model's signatures, keeping corpus totals.

    Requests stay within the model's serving limits: a text longer than
    max_sequence_length tokens goes in pieces, the state carried between
    them (exact: the same numbers as one long request).
    """

    def __init__(self, signatures, limits: limits_lib.Limits = limits_lib.DEFAULT):
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        self.tf = tf
        self.signatures = signatures
        self.piece = limits.max_sequence_length
        self.total_log_prob = 0.0
        self.total_tokens = 0
        self.state = self._start()

    def lines(self, pieces: Iterable[Piece], independent: bool = False,
              group: int = 1000) -> Iterator[Tuple[str, float, int]]:
        """(text, log-probability, tokens) of each line, in order.

        Stream (default): each line in the context of all before it, whole
        lines grouped up to `group` tokens a request; independent: each line
        from a sentence start, up to `group` lines a batch.
        """
        batch, size = [], 0
        cut_log_prob, cut_tokens, cut_state = 0.0, 0, None
        for piece in pieces:
            if piece.ends_line and cut_state is None:  # a whole line
                batch.append(piece)
                size += 1 if independent else len(piece.tokens)
                if size >= group:
                    yield from self._whole(batch, independent)
                    batch, size = [], 0
                continue
            if batch:  # the whole lines before a cut one go first
                yield from self._whole(batch, independent)
                batch, size = [], 0
            if cut_state is None:
                cut_state = self._start() if independent else self.state
            log_probs, cut_state = self._continue(piece.tokens, cut_state)
            cut_log_prob += float(np.sum(log_probs))
            cut_tokens += len(piece.tokens)
            if piece.ends_line:
                if not independent:
                    self.state = cut_state
                yield self._counted(piece.text, cut_log_prob, cut_tokens)
                cut_log_prob, cut_tokens, cut_state = 0.0, 0, None
        if batch:
            yield from self._whole(batch, independent)

    def _whole(self, batch: List[Piece], independent: bool):
        rows = [piece.tokens for piece in batch]
        totals = self.independent(rows) if independent else self.stream(rows)
        for piece, total in zip(batch, totals):
            yield self._counted(piece.text, total, len(piece.tokens))

    def _counted(self, text: str, log_prob: float, tokens: int):
        self.total_log_prob += log_prob
        self.total_tokens += tokens
        return text, log_prob, tokens

    def _start(self):
        return self.signatures["start_state"](batch_size=1)["state"]

    def _continue(self, words: List[str], state):
        """Token log-probabilities of words [T] after state [.., 1, H], in
        pieces; returns them as a list and the state after the last."""
        log_probs = []
        for start in range(0, len(words), self.piece):
            result = self.signatures["score_from_state"](
                words=self.tf.constant([words[start:start + self.piece]]),
                state=state)
            state = result["state"]
            log_probs.extend(np.asarray(result["token_log_probabilities"])[0])
        return log_probs, state

    def stream(self, rows: List[List[str]]) -> List[float]:
        """Log-probabilities of token rows (lines) in the context of
        everything scored before them."""
        log_probs, self.state = self._continue(
            [word for row in rows for word in row], self.state)
        totals, start = [], 0
        for row in rows:
            totals.append(float(sum(log_probs[start:start + len(row)])))
            start += len(row)
        return totals

    def independent(self, rows: List[List[str]]) -> List[float]:
        """Log-probabilities of token rows, each from a sentence start: the
        rows that fit one request in one padded batch, a longer one in
        pieces."""
        totals = [0.0] * len(rows)
        short = [index for index, row in enumerate(rows)
                 if len(row) <= self.piece]
        if short:
            width = max(len(rows[index]) for index in short)
            padded = [rows[index] + [""] * (width - len(rows[index]))
                      for index in short]
            result = self.signatures["score"](words=self.tf.constant(padded))
            for index, value in zip(short,
                                    np.asarray(result["log_probability"])):
                totals[index] = float(value)
        for index, row in enumerate(rows):
            if len(row) > self.piece:
                totals[index] = float(sum(self._continue(row, self._start())[0]))
        return totals
