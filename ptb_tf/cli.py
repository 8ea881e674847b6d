"""What every command-line tool shares: user errors as one line, no traceback."""

import functools
import sys

from ptb_tf.errors import UsageError, UserError
from ptb_tf.options import BEST, CHECKPOINTS, choice_problem
from ptb_tf.serving.source import ModelSource


def quiet_tensorflow():
    """Imports TensorFlow with its Python INFO lines off; returns the module.

    Call it only after every check a user can fail: importing TensorFlow
    prints start-up lines that would hide a one-line error.
    """
    from absl import logging  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    # TensorFlow 2.21 logs through absl (a line per checkpoint or signature).
    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("WARNING")
    return tf


def guarded(main, interrupted: str = "interrupted"):
    """Wraps an absl main: a UserError or Ctrl-C becomes one line and an exit code."""

    @functools.wraps(main)
    def wrapper(argv):
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            print(interrupted, file=sys.stderr)
            sys.exit(130)

    return wrapper


def define_model_source_flags(flag_values, tflite: bool = False) -> None:
    """--saved_model, --save_path and --checkpoint (and --tflite): where a
    tool finds the trained model."""
    from absl import flags  # pylint: disable=g-import-not-at-top
    flags.DEFINE_string("saved_model", None,
                        "An export: NAME (its newest version) or NAME/VERSION.",
                        flag_values=flag_values)
    flags.DEFINE_string("save_path", None, "A training run's folder.",
                        flag_values=flag_values)
    flags.DEFINE_string("checkpoint", BEST,
                        "With --save_path: which checkpoint, best (best "
                        "validation perplexity) or latest.",
                        flag_values=flag_values)
    if tflite:
        flags.DEFINE_string("tflite", None,
                            "A TFLite export (python -m ptb_tf.export "
                            "--format=tflite): NAME, NAME/VERSION or its "
                            "model.tflite; runs in LiteRT's interpreter.",
                            flag_values=flag_values)


def check_no_arguments(argv) -> None:
    """absl leaves non-flag words in argv; every option here is a --flag."""
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}; "
                         "all options are --flags")


def require_data_path(data_path) -> None:
    if not data_path:
        raise UsageError("--data_path is required: the folder holding "
                         "ptb.train.txt, ptb.valid.txt and ptb.test.txt")


def model_source(flag_values) -> ModelSource:
    """The model flags of a tool as a checked ModelSource ("" for a flag the
    tool has but the user left out, None for one it does not have)."""
    values = {name: (flag_values[name].value or "") if name in flag_values
              else None for name in ("saved_model", "save_path", "tflite")}
    problem = choice_problem("checkpoint", flag_values.checkpoint, CHECKPOINTS)
    if problem:
        raise UsageError(problem)
    return ModelSource(checkpoint=flag_values.checkpoint, **values).check()


def check_utf8(name: str, value: str) -> str:
    """Command-line text arrives with undecodable bytes as surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"--{name} is not valid UTF-8 text; pass UTF-8") from None
    return value
