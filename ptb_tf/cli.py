"""What every command-line tool shares: user errors as one line, no traceback."""

import functools
import os
import sys
from typing import List

from ptb_tf.corpus import ptb
from ptb_tf.corpus.splits import DEFAULT_SPLIT, SPLITS, DataSpec
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


def define_data_flags(flag_values, download: bool = True) -> None:
    """The flags of every command that reads a corpus: PTB's folder, three
    files or one text cut by --split; word or character level; the
    vocabulary's cut-offs. With `download`, --download_url too: no data flag
    then means PTB in the cache folder, fetched there first."""
    from absl import flags  # pylint: disable=g-import-not-at-top
    if download:
        flags.DEFINE_string("download_url", ptb.DEFAULT_URL,
                            "Where PTB's simple-examples.tgz is fetched from "
                            "when no data flag is given and the cache folder "
                            f"({ptb.cache_folder()}) has no PTB yet.",
                            flag_values=flag_values)
    flags.DEFINE_string("data_path", None,
                        "Folder with ptb.train.txt, ptb.valid.txt, ptb.test.txt.",
                        flag_values=flag_values)
    for split in SPLITS:
        flags.DEFINE_string(f"{split}_file", None,
                            f"The {split} text (instead of --data_path; all "
                            "three files together). Plain, .gz or .zip.",
                            flag_values=flag_values)
    flags.DEFINE_string("text_file", None,
                        "One text, cut in order by --split into train, valid "
                        "and test (instead of --data_path). Plain, .gz or .zip.",
                        flag_values=flag_values)
    flags.DEFINE_list("split", [str(part) for part in DEFAULT_SPLIT],
                      "Fractions of --text_file's tokens for train, valid, "
                      "test, in that order.", flag_values=flag_values)
    flags.DEFINE_string("level", "word",
                        "word: tokens split on whitespace; char: every "
                        "character a token. Line breaks are <eos> either way.",
                        flag_values=flag_values)
    flags.DEFINE_integer("max_vocab_size", 0,
                         "Keep only the most frequent tokens of the training "
                         "text (0: all); the rest become <unk>.",
                         flag_values=flag_values)
    flags.DEFINE_integer("min_count", 1,
                         "Keep only tokens seen at least this often in the "
                         "training text; the rest become <unk>.",
                         flag_values=flag_values)


def data_spec_from_flags(flag_values) -> DataSpec:
    """The data flags as a DataSpec; UsageError if they do not go together.

    No data flag at all means PTB in the cache folder, downloaded there
    first (from --download_url) if it is not there yet; a command without
    --download_url requires a data flag.
    """
    data_path = flag_values.data_path
    if not (data_path or flag_values.train_file or flag_values.valid_file
            or flag_values.test_file or flag_values.text_file):
        if "download_url" not in flag_values:
            require_data_path(data_path)
        data_path = ptb.cache_folder()
        if not ptb.has_ptb(data_path):
            print(f"No data flag: getting PTB into {data_path} (pass "
                  "--data_path to read it from elsewhere)", flush=True)
            ptb.download(data_path, flag_values.download_url,
                         log=lambda line: print(line, flush=True))
    try:
        split = tuple(float(part) for part in flag_values.split)
    except ValueError:
        raise UsageError("--split must be three fractions, e.g. 0.9,0.05,0.05. "
                         f"Received: split={','.join(flag_values.split)}"
                         ) from None
    spec = DataSpec(
        data_path=data_path, train_file=flag_values.train_file,
        valid_file=flag_values.valid_file, test_file=flag_values.test_file,
        text_file=flag_values.text_file, split=split, level=flag_values.level,
        max_vocab_size=flag_values.max_vocab_size,
        min_count=flag_values.min_count)
    problem = spec.problem()
    if problem:
        raise UsageError(problem)
    return spec


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


def check_min(flag_values, minimum, *names, note: str = "") -> None:
    """UsageError unless every flag named is at least `minimum`; `note`
    follows the bound in the message (e.g. " (0: all)")."""
    for name in names:
        value = flag_values[name].value
        if value < minimum:
            raise UsageError(f"--{name} must be >= {minimum}{note}. "
                             f"Received: {name}={value}")


def command(define_flags, main, interrupted: str = "interrupted"):
    """A command module's entry point, `run`: defines its flags, then runs
    main under absl, a UserError or Ctrl-C answered as guarded() does."""

    def run() -> None:
        from absl import app  # pylint: disable=g-import-not-at-top
        from absl import flags  # pylint: disable=g-import-not-at-top
        define_flags()
        # --helpshort lists the main module's flags: make the command's own
        # and those defined here for it (a console script's main module is
        # its wrapper; here the model and data flags) the main module's.
        by_module = flags.FLAGS.flags_by_module_dict()
        for module in (define_flags.__module__, __name__):
            for flag in by_module.get(module, []):
                flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)

        def main_checked(argv):
            use_old_names(flags.FLAGS)
            if "results_file" in flags.FLAGS and flags.FLAGS.results_file:
                check_results_file(flags.FLAGS.results_file)
            return main(argv)

        app.run(guarded(main_checked, interrupted),
                argv=with_presets(sys.argv))

    return run


# old flag name -> the name it became (define_old_name).
_OLD_NAMES = {}


def define_old_name(old: str, new: str, flag_values) -> None:
    """--old, the name --new (defined already) had before it was renamed so
    that one flag name means one thing in every command: it still works,
    and says in one line what it became."""
    from absl import flags  # pylint: disable=g-import-not-at-top
    flag = flag_values[new]
    flags.DEFINE(flag.parser, old, None, f"Old name of --{new}.",
                 flag_values=flag_values, serializer=flag.serializer)
    _OLD_NAMES[old] = new


def use_old_names(flag_values) -> None:
    """Moves each old name's value to its new name, saying so; UsageError if
    both are given."""
    for old, new in _OLD_NAMES.items():
        if old not in flag_values or not flag_values[old].present:
            continue
        if flag_values[new].present:
            raise UsageError(f"--{old} is the old name of --{new}; pass "
                             f"only --{new}")
        flag_values[new].value = flag_values[old].value
        print(f"note: --{old} is now called --{new}; the old name still "
              "works for now", file=sys.stderr)


PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")


def with_presets(argv: List[str]) -> List[str]:
    """argv with each --flagfile that names no file here but a preset of the
    package (`--flagfile=flags/small.flags`, `--flagfile=small.flags`) made
    the packaged file's path, so that the tutorial-style commands work
    outside a clone too."""
    resolved = list(argv)
    for at, arg in enumerate(argv):
        if arg.startswith("--flagfile="):
            prefix = "--flagfile="
        elif at and argv[at - 1] == "--flagfile":  # its value, apart
            prefix = ""
        else:
            continue
        path = arg[len(prefix):]
        preset = os.path.join(PRESETS_DIR, os.path.basename(path))
        if not os.path.exists(path) and os.path.isfile(preset):
            resolved[at] = prefix + preset
    return resolved


def check_results_file(path: str) -> None:
    """UserError now, not after hours of work, if --results_file cannot be
    written (every command with the flag checks it before it starts)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"folder of --results_file not found: {directory}; "
                        "create it or choose another path")
    if os.path.isdir(path):
        raise UserError(f"--results_file={path} is a folder; name a file")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UserError(f"cannot write --results_file in {directory}; "
                        "choose a writable folder")


def check_utf8(name: str, value: str) -> str:
    """Command-line text arrives with undecodable bytes as surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"--{name} is not valid UTF-8 text; pass UTF-8") from None
    return value
