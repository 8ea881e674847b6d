r"""Soak test: does memory hold steady over many epochs? `python -m ptb_tf.soak`.

    python -m ptb_tf.soak --data_path=simple-examples/data --epochs=20 \
        --results_file=results/soak.json

Trains the test config on PTB for --epochs epochs, checkpointing as a real run
does (into a temporary --save_path), and reads the process's memory after
every epoch: the resident set now and its peak so far. Passes if the peak
after the last epoch is within --tolerance of the peak after epoch 2 (the
first epochs trace and compile). A benchmark, not a unit test: it prints
figures and writes JSON.
"""

import dataclasses
import resource
import sys
import tempfile

from absl import flags

from ptb_tf import cli
from ptb_tf.bench.common import peak_rss_mb
from ptb_tf.config import PRESETS
from ptb_tf.corpus.layout import check_batchable
from ptb_tf.corpus.splits import load_corpus
from ptb_tf.errors import UsageError, UserError
from ptb_tf.files import write_json
from ptb_tf.options import run_options_problem


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    cli.define_data_flags(flag_values, download=False)
    flags.DEFINE_integer("epochs", 20, "Epochs of the test config to run.",
                         flag_values=flag_values)
    flags.DEFINE_float("tolerance", 0.05,
                       "Allowed growth of peak memory after epoch 2.",
                       flag_values=flag_values)
    flags.DEFINE_string("rnn_mode", "unrolled", "How the LSTM layers run.",
                        flag_values=flag_values)
    flags.DEFINE_bool("jit_compile", True, "Compile training with XLA.",
                      flag_values=flag_values)
    flags.DEFINE_string("results_file", None, "Write the results JSON here.",
                        flag_values=flag_values)
    # Train's name for its results JSON, now every command's.
    cli.define_old_name("output", "results_file", flag_values)


def resident_mb() -> float:
    """The resident set size of this process now, in MB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main(argv):
    cli.check_no_arguments(argv)
    data = cli.data_spec_from_flags(FLAGS)
    cli.check_min(FLAGS, 3, "epochs", note=" (memory is compared with epoch 2's)")
    problem = run_options_problem(FLAGS.rnn_mode, FLAGS.jit_compile, "float32")
    if problem:
        raise UsageError(problem)
    corpus = load_corpus(data)
    config = dataclasses.replace(PRESETS["test"], max_max_epoch=FLAGS.epochs,
                                 max_epoch=FLAGS.epochs,
                                 vocab_size=len(corpus.vocab))
    for split in ("train", "valid"):
        check_batchable(split, len(getattr(corpus, split)),
                        config.batch_size, config.num_steps)
    tf = cli.quiet_tensorflow()
    from ptb_tf.training.results import machine_info  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.run import train_and_evaluate  # pylint: disable=g-import-not-at-top

    rows = []

    def log(line: str) -> None:
        if " Valid Perplexity: " in line:
            epoch = int(line.split()[1])
            resident = resident_mb()
            # The kernel's high-water mark can lag the live count it is
            # taken from (770.0 MB resident against a 769.8 MB peak, seen).
            rows.append({"epoch": epoch, "resident_mb": resident,
                         "peak_mb": max(peak_rss_mb(), resident)})
            print(f"epoch {epoch:2d}: resident {rows[-1]['resident_mb']:.1f} "
                  f"MB, peak {rows[-1]['peak_mb']:.1f} MB", flush=True)

    with tempfile.TemporaryDirectory() as save_path:
        train_and_evaluate(config, corpus, save_path=save_path, log=log,
                           rnn_mode=FLAGS.rnn_mode,
                           jit_compile=FLAGS.jit_compile)
    second, last = rows[1], rows[-1]
    growth = last["peak_mb"] / second["peak_mb"] - 1
    report = {"command": "python -m ptb_tf.soak " + " ".join(sys.argv[1:]),
              "machine": machine_info(), "epochs": rows,
              "peak_growth_after_epoch_2": growth,
              "tolerance": FLAGS.tolerance,
              "passed": growth <= FLAGS.tolerance,
              "tensorflow": tf.__version__}
    print(f"peak memory after epoch 2: {second['peak_mb']:.1f} MB, after epoch "
          f"{last['epoch']}: {last['peak_mb']:.1f} MB ({100 * growth:+.2f}%; "
          f"allowed +{100 * FLAGS.tolerance:.0f}%): "
          f"{'steady' if report['passed'] else 'GROWING'}", flush=True)
    if FLAGS.results_file:
        write_json(FLAGS.results_file, report)
    if not report["passed"]:
        raise UserError("memory grew by more than --tolerance over the run")


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
