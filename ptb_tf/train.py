r"""Trains the PTB language model: `python -m ptb_tf.train`.

    python -m ptb_tf.train --data_path=simple-examples/data \
        --save_path=/tmp/ptb_small --flagfile=flags/small.flags

Any UTF-8 text works too: `--train_file/--valid_file/--test_file`, or one
`--text_file` cut by `--split`; `--level=char` for characters.

`--model=small|medium|large|test` picks the tutorial's config; any
hyper-parameter flag given overrides it (later flags win). Running the same
command again with the same --save_path resumes from the latest checkpoint,
written every tenth of an epoch (--checkpoint_every) and at each epoch's end,
as if the run had never stopped.
"""

import dataclasses
import shlex
import sys
from typing import Callable

from absl import flags

from ptb_tf import cli
from ptb_tf import cluster
from ptb_tf import run_dir
from ptb_tf.config import HELP, HYPERPARAMETERS, PRESETS, Config
from ptb_tf.corpus.layout import check_batchable
from ptb_tf.corpus.splits import load_corpus
from ptb_tf.errors import UsageError, UserError
from ptb_tf.options import (AUTO, PROGRESS, RunOptions, choice_problem,
                            tutorial_rnn_mode)


FLAGS = flags.FLAGS

def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """Defines the tutorial's flags, one per hyper-parameter, all optional."""
    flags.DEFINE_string("strategy", "default",
                        "default (one device), mirrored (data-parallel over "
                        "--num_gpus GPUs: tf.distribute.MirroredStrategy) or "
                        "multi_worker (MultiWorkerMirroredStrategy over the "
                        "workers of TF_CONFIG). The global --batch_size is "
                        "split across the replicas.",
                        flag_values=flag_values)
    flags.DEFINE_integer("num_gpus", 0,
                         "GPUs to train on, as the tutorial's flag: more than "
                         "1 means --strategy=mirrored over that many.",
                         flag_values=flag_values)
    cli.define_data_flags(flag_values)
    flags.DEFINE_string("save_path", None,
                        "Folder for checkpoints, vocab.txt and results.json; "
                        "an existing run there is resumed.",
                        flag_values=flag_values)
    flags.DEFINE_string("model", "small",
                        f"Preset config: {', '.join(PRESETS)}. "
                        "Hyper-parameter flags override it.",
                        flag_values=flag_values)
    for name in HYPERPARAMETERS:
        kind = type(getattr(Config(), name))
        define = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
                  str: flags.DEFINE_string, bool: flags.DEFINE_bool}[kind]
        define(name, None, HELP[name] + " Default: from --model.",
               flag_values=flag_values)
    flags.DEFINE_string("rnn_mode", AUTO,
                        "How the recurrent layers run: auto (keras on a GPU, "
                        "unrolled with XLA on a CPU: the fastest measured on "
                        "each), keras (Keras's LSTM, "
                        "GRU or SimpleRNN; cuDNN on a GPU), unrolled (input "
                        "projection hoisted, time loop unrolled), block "
                        "(TensorFlow's fused BlockLSTMV2 op, LSTM only). Same "
                        "weights and checkpoints. The tutorial's CUDNN, BASIC "
                        "and BLOCK (any case) mean keras, unrolled and block.",
                        flag_values=flag_values)
    flags.DEFINE_string("precision", "float32",
                        "float32, mixed_bfloat16 or mixed_float16: half-"
                        "precision matmuls on float32 weights (same "
                        "checkpoints; float16 with dynamic loss scaling); "
                        "with --rnn_mode=unrolled only the matmul operands "
                        "are rounded, with keras it is Keras's policy.",
                        flag_values=flag_values)
    flags.DEFINE_bool("use_fp16", False,
                      "The tutorial's flag: trains with "
                      "--precision=mixed_float16 (float16 matmuls on float32 "
                      "weights, with loss scaling).",
                      flag_values=flag_values)
    flags.DEFINE_bool("jit_compile", False,
                      "Compile training with XLA: one compiled loop runs "
                      "each tenth of an epoch.",
                      flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "Random seed for initialisation and dropout.",
                         flag_values=flag_values)
    flags.DEFINE_integer("eval_window", 500,
                         "Window length of the exact batch-1 test evaluation; "
                         "any length gives the same perplexity.",
                         flag_values=flag_values)
    flags.DEFINE_integer("checkpoint_every", 0,
                         "Write a checkpoint every this many batches during "
                         "an epoch (0: every tenth of an epoch); one is also "
                         "written at each epoch's end.",
                         flag_values=flag_values)
    flags.DEFINE_string("on_nan", "stop",
                        "What a non-finite loss does: stop (with a message), "
                        "or restore (reload the latest checkpoint, halve the "
                        "learning rate, go on).",
                        flag_values=flag_values)
    flags.DEFINE_bool("deterministic", False,
                      "Use TensorFlow's deterministic ops, so that a resumed "
                      "run gives bit-for-bit the results of one never stopped "
                      "(on the CPU the ops used are deterministic anyway).",
                      flag_values=flag_values)
    # How much to print is absl's own --verbosity (-v), lower is quieter:
    # 0 (its default) everything, -1 a line per epoch event, -2 the result.
    flags.DEFINE_string("progress", "auto",
                        "In-epoch progress: bar, lines (the tutorial's ~10 an "
                        "epoch), or auto (a bar when stdout is a terminal). "
                        "absl's --verbosity quietens: -1 prints only a line "
                        "per epoch event, -2 only the test result.",
                        flag_values=flag_values)
    flags.DEFINE_string("results_file", None,
                        "Also write the results JSON here.",
                        flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues) -> Config:
    """The --model preset with every hyper-parameter flag given applied."""
    if flag_values.model not in PRESETS:
        raise UsageError(f"--model must be one of {', '.join(PRESETS)}. "
                         f"Received: model={flag_values.model}")
    overrides = {name: flag_values[name].value for name in HYPERPARAMETERS
                 if flag_values[name].value is not None}
    return dataclasses.replace(PRESETS[flag_values.model], **overrides).validate()


def options_from_flags(flag_values: flags.FlagValues,
                       say: Callable[[str], None] = print) -> RunOptions:
    """The run flags as RunOptions (checked by RunOptions.problem); the
    tutorial's --use_fp16 and --rnn_mode values become ours, each said in
    one line."""
    rnn_mode, note = tutorial_rnn_mode(flag_values.rnn_mode)
    if note:
        say(note)
    precision = flag_values.precision
    if flag_values.use_fp16:
        if flag_values["precision"].present and precision != "mixed_float16":
            raise UsageError(f"--use_fp16 means --precision=mixed_float16; "
                             f"drop one of it and --precision={precision}")
        precision = "mixed_float16"
        say("--use_fp16 (the tutorial's): training with "
            "--precision=mixed_float16 (float16 matmuls on float32 weights, "
            "with loss scaling; the tutorial kept float16 weights)")
    strategy = flag_values.strategy
    if strategy == "default" and flag_values.num_gpus > 1:
        strategy = "mirrored"  # the tutorial's --num_gpus alone
    # absl's own --verbosity, read before quiet_tensorflow lowers it: 0 (its
    # default) everything, -1 a line per epoch event, -2 the result.
    absl_verbosity = (flag_values.verbosity if "verbosity" in flag_values
                      else 0)
    return RunOptions(
        rnn_mode=rnn_mode, precision=precision,
        jit_compile=flag_values.jit_compile, seed=flag_values.seed,
        eval_window=flag_values.eval_window,
        checkpoint_every=flag_values.checkpoint_every,
        on_nan=flag_values.on_nan, strategy=strategy,
        num_gpus=flag_values.num_gpus,
        verbosity=min(max(absl_verbosity + 2, 0), 2),
        progress_bar=(flag_values.progress == "bar"
                      or (flag_values.progress == "auto"
                          and sys.stdout.isatty())))


def check_flags(flag_values: flags.FlagValues):
    """Everything a user can get wrong, checked before TensorFlow starts:
    returns the config (its vocab_size the data's), the run options and the
    corpus, or raises UsageError or UserError."""
    config = config_from_flags(flag_values)
    options = options_from_flags(flag_values)
    problem = (options.problem(config.cell, flag_values.save_path)
               or choice_problem("progress", flag_values.progress, PROGRESS))
    if problem:
        raise UsageError(problem)
    corpus = load_corpus(cli.data_spec_from_flags(flag_values))
    if config.vocab_size and config.vocab_size != len(corpus.vocab):
        raise UsageError(
            f"the training file gives {len(corpus.vocab)} words but "
            f"--vocab_size={config.vocab_size}; pass "
            f"--vocab_size={len(corpus.vocab)} (or 0 to take it from the data)")
    config = dataclasses.replace(config, vocab_size=len(corpus.vocab)).validate()
    for split in ("train", "valid"):
        check_batchable(split, len(getattr(corpus, split)),
                        config.batch_size, config.num_steps)
    if len(corpus.test) < 2:
        raise UserError("the test data needs at least 2 tokens to score")
    return config, options, corpus


def main(argv):
    cli.check_no_arguments(argv)
    config, options, corpus = check_flags(FLAGS)
    if FLAGS.save_path and cluster.is_chief(options.strategy):
        run_dir.prepare(FLAGS.save_path, config, corpus)
    elif FLAGS.save_path:  # another worker of a cluster: it reads the folder
        run_dir.check(FLAGS.save_path, config, corpus)
    else:
        print("warning: no --save_path: this run keeps nothing (no checkpoint "
              "to resume from or export); pass --save_path=FOLDER to keep it",
              file=sys.stderr, flush=True)

    tf = cli.quiet_tensorflow()
    from ptb_tf.training import distributed  # pylint: disable=g-import-not-at-top
    # Before any other TensorFlow work (a multi-worker cluster starts here).
    strategy = distributed.make_strategy(options.strategy, options.num_gpus)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    from ptb_tf.training.results import write_results  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.run import TrainingRun  # pylint: disable=g-import-not-at-top
    command = shlex.join(["python", "-m", "ptb_tf.train"] + sys.argv[1:])
    results = TrainingRun(config, corpus, FLAGS.save_path, options, _log,
                          command, strategy).run()
    if FLAGS.results_file:
        write_results(FLAGS.results_file, results)


def _log(message: str) -> None:
    print(message, flush=True)


run = cli.command(define_flags, main,
                  "interrupted: the latest checkpoint is kept; run the same "
                  "command to resume from it")


if __name__ == "__main__":
    run()
