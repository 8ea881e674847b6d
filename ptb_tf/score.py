r"""Scores sentences with a trained model: `python -m ptb_tf.score`.

    python -m ptb_tf.score --saved_model=saved_models/ptb_small \
        --input=../shared/data/ptb/ptb.test.txt
    echo "the market fell sharply" | python -m ptb_tf.score --save_path=/tmp/ptb_small

Each line is a sentence; its tokens are its words plus `<eos>` for the line
break, as in training. For each line it prints the natural-log probability,
the token count and the perplexity; at the end the corpus perplexity.

By default the text is read as one stream, each line in the context of the
lines before it, as the training script evaluates the test set (so the two
perplexities agree); --independent scores every line from a sentence start.
"""

import math
import os
import sys
from typing import Iterator, List

from absl import flags
import numpy as np

from ptb_tf import cli
from ptb_tf.corpus.text import split_tokens
from ptb_tf.corpus.vocab import EOS
from ptb_tf.errors import UsageError, UserError
from ptb_tf.serving import limits


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    cli.define_model_source_flags(flag_values, tflite=True)
    flags.DEFINE_string("input", "-", "Text file, one sentence a line; - for "
                        "standard input.", flag_values=flag_values)
    flags.DEFINE_bool("independent", False,
                      "Score each line from a sentence start instead of in the "
                      "context of the lines before it.", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 64,
                         "Lines per request with --independent.",
                         flag_values=flag_values)
    flags.DEFINE_integer("window", 1000,
                         "Tokens per group of lines when reading a stream "
                         "(a request carries at most the model's "
                         "max_sequence_length of them).",
                         flag_values=flag_values)


def read_lines(path: str) -> Iterator[str]:
    """The lines of a UTF-8 file or of standard input, without line breaks."""
    if path == "-":
        stream = sys.stdin.buffer
    else:
        try:
            stream = open(path, "rb")  # pylint: disable=consider-using-with
        except OSError as error:
            raise UserError(f"cannot read --input={path}: {error.strerror}") from None
    with stream:
        for number, raw in enumerate(stream, 1):
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise UserError(f"line {number} of --input={path} is not UTF-8 "
                                "text; convert the file to UTF-8") from None


def tokens(line: str, level: str = "word") -> List[str]:
    """A line's words (or characters, at level "char") and its `<eos>`."""
    return split_tokens(line, level) + [EOS]


def chunks(lines: Iterator[str], limit: int, by_tokens: bool,
           level: str = "word"):
    """Groups lines into lists of at most `limit` lines (or ~limit tokens)."""
    group, size = [], 0
    for line in lines:
        group.append(line)
        size += len(tokens(line, level)) if by_tokens else 1
        if size >= limit:
            yield group
            group, size = [], 0
    if group:
        yield group


class Scorer:
    """Scores lines through the model's signatures, keeping corpus totals.

    Requests stay within the model's serving limits: a text longer than
    max_sequence_length tokens goes in pieces, the state carried between
    them (exact: the same numbers as one long request).
    """

    def __init__(self, signatures, level: str = "word",
                 limits: limits.Limits = limits.DEFAULT):
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        self.tf = tf
        self.signatures = signatures
        self.level = level
        self.piece = limits.max_sequence_length
        self.total_log_prob = 0.0
        self.total_tokens = 0
        self.state = signatures["start_state"](batch_size=1)["state"]

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

    def stream(self, lines: List[str]) -> List[float]:
        """Scores lines in the context of everything scored before them."""
        words = [word for line in lines for word in tokens(line, self.level)]
        log_probs, self.state = self._continue(words, self.state)
        totals, start = [], 0
        for line in lines:
            end = start + len(tokens(line, self.level))
            totals.append(float(sum(log_probs[start:end])))
            start = end
        return totals

    def independent(self, lines: List[str]) -> List[float]:
        """Scores each line from a sentence start: the lines that fit one
        request in one padded batch, a longer line in pieces."""
        rows = [tokens(line, self.level) for line in lines]
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
        long_rows = [index for index, row in enumerate(rows)
                     if len(row) > self.piece]
        if long_rows:
            start = self.signatures["start_state"](batch_size=1)["state"]
            for index in long_rows:
                totals[index] = float(sum(self._continue(rows[index], start)[0]))
        return totals

    def report(self, lines: List[str], totals: List[float]) -> None:
        for line, total in zip(lines, totals):
            count = len(tokens(line, self.level))
            self.total_log_prob += total
            self.total_tokens += count
            print(f"{total:.4f}\t{count}\t{_perplexity(total, count):.3f}\t{line}")


def _perplexity(log_prob: float, count: int) -> float:
    return math.exp(-log_prob / count)


def main(argv):
    cli.check_no_arguments(argv)
    source = cli.model_source(FLAGS)
    cli.check_min(FLAGS, 1, "batch_size", "window")
    if FLAGS.input != "-" and not os.path.isfile(FLAGS.input):
        raise UserError(f"--input={FLAGS.input} not found; pass a text file "
                        "or - for standard input")
    level, limits = source.level, source.limits
    if FLAGS.batch_size > limits.max_batch_size:
        raise UsageError(f"--batch_size must be <= {limits.max_batch_size} "
                         "(this model's max_batch_size). "
                         f"Received: batch_size={FLAGS.batch_size}")
    cli.quiet_tensorflow()
    scorer = Scorer(source.signatures(), level, limits)
    if FLAGS.independent:
        groups = chunks(read_lines(FLAGS.input), FLAGS.batch_size, False)
        score_group = scorer.independent
    else:
        groups = chunks(read_lines(FLAGS.input), FLAGS.window, True, level)
        score_group = scorer.stream
    for lines in groups:
        scorer.report(lines, score_group(lines))
    if not scorer.total_tokens:
        raise UserError("--input has no lines to score")
    print(f"Corpus: {scorer.total_tokens} tokens, log-probability "
          f"{scorer.total_log_prob:.3f}, perplexity "
          f"{_perplexity(scorer.total_log_prob, scorer.total_tokens):.3f}")


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
