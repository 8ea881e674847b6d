"""What every command-line tool shares: user errors as one line, no traceback."""

import functools
import sys

from ptb_tf import save_dir
from ptb_tf import serving_limits
from ptb_tf import tflite_model
from ptb_tf import versions
from ptb_tf.errors import UsageError, UserError


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
    """--saved_model and --save_path (and --tflite): where a tool finds the
    trained model."""
    from absl import flags  # pylint: disable=g-import-not-at-top
    flags.DEFINE_string("saved_model", None,
                        "An export: NAME (its newest version) or NAME/VERSION.",
                        flag_values=flag_values)
    flags.DEFINE_string("save_path", None, "A training run's folder.",
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


def model_source(flag_values) -> dict:
    """The model flags of a tool, as keyword arguments of check_model_source,
    model_level, model_limits and loading.load_signatures ("" for a flag the
    tool has but the user left out, None for one it does not have)."""
    return {name: (flag_values[name].value or "") if name in flag_values
            else None for name in ("saved_model", "save_path", "tflite")}


def check_model_source(saved_model, save_path, tflite=None) -> None:
    """Checks the model flags: exactly one of them, and a model there."""
    sources = {"--saved_model (an export)": saved_model,
               "--save_path (a training run)": save_path}
    if tflite is not None:  # only the tools that take a TFLite export
        sources["--tflite (a TFLite export)"] = tflite
    if sum(bool(value) for value in sources.values()) != 1:
        names = list(sources)
        raise UsageError(f"pass exactly one of {', '.join(names[:-1])} and "
                         f"{names[-1]}")
    if saved_model:
        versions.resolve_saved_model(saved_model)
    elif tflite:
        tflite_model.resolve(tflite)
    else:
        save_dir.load_run(save_path)


def _metadata(saved_model, tflite) -> dict:
    if tflite:
        return versions.read_metadata(tflite_model.resolve(tflite))
    return versions.read_metadata(versions.resolve_saved_model(saved_model))


def model_level(saved_model, save_path, tflite=None) -> str:
    """"word" or "char": how the model's text is cut into tokens."""
    if saved_model or tflite:
        return _metadata(saved_model, tflite).get("level", "word")
    return save_dir.run_level(save_path)


def model_limits(saved_model, save_path, tflite=None) -> serving_limits.Limits:
    """The largest request the model answers: an export's own limits, or the
    defaults (a training run is served in memory with them)."""
    if saved_model or tflite:
        return serving_limits.Limits.from_dict(
            _metadata(saved_model, tflite).get("limits", {}))
    return serving_limits.DEFAULT


def check_utf8(name: str, value: str) -> str:
    """Command-line text arrives with undecodable bytes as surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"--{name} is not valid UTF-8 text; pass UTF-8") from None
    return value
