r"""Scores sentences with a trained model: `python -m ptb_tf.score`.

    python -m ptb_tf.score --saved_model=saved_models/ptb_small \
        --input=simple-examples/data/ptb.test.txt
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

from absl import flags

from ptb_tf import cli
from ptb_tf.errors import UsageError, UserError
from ptb_tf.serving import scoring


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    cli.define_model_source_flags(flag_values, tflite=True)
    flags.DEFINE_string("input", "-", "Text file, one sentence a line; - for "
                        "standard input.", flag_values=flag_values)
    flags.DEFINE_bool("independent", False,
                      "Score each line from a sentence start instead of in the "
                      "context of the lines before it.", flag_values=flag_values)
    flags.DEFINE_integer("lines_per_batch", 64,
                         "Lines per request with --independent.",
                         flag_values=flag_values)
    # Renamed: train's --batch_size is the number of parallel streams.
    cli.define_old_name("batch_size", "lines_per_batch", flag_values)
    flags.DEFINE_integer("window", 1000,
                         "Tokens per group of lines when reading a stream "
                         "(a request carries at most the model's "
                         "max_sequence_length of them); a longer line is "
                         "read and scored in pieces of this many, so memory "
                         "depends on it, not on the input.",
                         flag_values=flag_values)


def _open_input(path: str):
    """--input as a binary stream: a file, or standard input for -."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # pylint: disable=consider-using-with
    except OSError as error:
        raise UserError(f"cannot read --input={path}: {error.strerror}") from None


def _perplexity(log_prob: float, count: int) -> float:
    return math.exp(-log_prob / count)


def main(argv):
    cli.check_no_arguments(argv)
    source = cli.model_source(FLAGS)
    cli.check_min(FLAGS, 1, "lines_per_batch", "window")
    if FLAGS.input != "-" and not os.path.isfile(FLAGS.input):
        raise UserError(f"--input={FLAGS.input} not found; pass a text file "
                        "or - for standard input")
    level, limits = source.level, source.limits
    if FLAGS.lines_per_batch > limits.max_batch_size:
        raise UsageError(f"--lines_per_batch must be <= {limits.max_batch_size} "
                         "(this model's max_batch_size). "
                         f"Received: lines_per_batch={FLAGS.lines_per_batch}")
    cli.quiet_tensorflow()
    scorer = scoring.Scorer(source.signatures(), limits)
    group = FLAGS.lines_per_batch if FLAGS.independent else FLAGS.window
    with _open_input(FLAGS.input) as stream:
        pieces = scoring.read_pieces(stream, level, FLAGS.window,
                                     f"--input={FLAGS.input}")
        for text, total, count in scorer.lines(pieces, FLAGS.independent,
                                               group):
            print(f"{total:.4f}\t{count}\t{_perplexity(total, count):.3f}"
                  f"\t{text}")
    if not scorer.total_tokens:
        raise UserError("--input has no lines to score")
    print(f"Corpus: {scorer.total_tokens} tokens, log-probability "
          f"{scorer.total_log_prob:.3f}, perplexity "
          f"{_perplexity(scorer.total_log_prob, scorer.total_tokens):.3f}")


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
