r"""ptb_tf's training speed beside the PyTorch example's, in one run.

    pip install torch  # an optional install, in any Python (--torch_python)
    git clone https://github.com/pytorch/examples pytorch-examples
    python benchmarks/pytorch_side_by_side.py --data_path=simple-examples/data \
        --pytorch_example=pytorch-examples/word_language_model \
        --results_file=results/pytorch_side_by_side.json

For each config (small, medium): the PyTorch example (pytorch/examples
`word_language_model`, unmodified: its own main.py in a subprocess, with the
config's sizes, dropout, bptt and batch) and ptb_tf's training paths, timed
in alternating rounds so that both see the same machine; the medians, and
ptb_tf's best path over the example's words/s.

The example's words/s come from its own log: every --log_every batches it
prints ms/batch; the first such line (warm-up) is dropped and the process is
stopped after --pytorch_lines more. ptb_tf's come from the benchmark's own
steady-state training windows (ptb_tf.bench.speed.train_rate). Run it on a
quiet machine: the figures are times.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile

from absl import flags

from ptb_tf import cli
from ptb_tf.bench.common import (DEFAULT_VARIANTS_HELP,
                                 check_configs_and_variants,
                                 variants_or_default)
from ptb_tf.config import PRESETS
from ptb_tf.corpus.splits import load_corpus
from ptb_tf.errors import UsageError, UserError
from ptb_tf.files import write_json


FLAGS = flags.FLAGS

# ms/batch in the example's progress line.
_MS_PER_BATCH = re.compile(r"ms/batch\s+([0-9.]+)")


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_string("data_path", None, "Folder with the PTB files.",
                        flag_values=flag_values)
    flags.DEFINE_string("pytorch_example", None,
                        "The folder of pytorch/examples' word_language_model "
                        "(its main.py is run as it is).",
                        flag_values=flag_values)
    flags.DEFINE_string("torch_python", sys.executable,
                        "The Python that has torch installed.",
                        flag_values=flag_values)
    flags.DEFINE_list("configs", ["small", "medium"], "Configs to compare.",
                      flag_values=flag_values)
    flags.DEFINE_list("variants", None,
                      "ptb_tf's training paths to time, its best one compared "
                      "(see ptb_tf.benchmark; " + DEFAULT_VARIANTS_HELP + ").",
                      flag_values=flag_values)
    flags.DEFINE_integer("rounds", 3, "Alternating rounds (median).",
                         flag_values=flag_values)
    flags.DEFINE_integer("log_every", 50,
                         "The example's --log-interval, in batches.",
                         flag_values=flag_values)
    flags.DEFINE_integer("pytorch_lines", 3,
                         "Progress lines of the example timed per round.",
                         flag_values=flag_values)
    flags.DEFINE_string("results_file", None, "Write the results JSON here.",
                        flag_values=flag_values)


def example_flags(config, data_folder, save_file, log_every):
    """The example's flags for a ptb_tf config: same sizes, dropout, bptt and
    batch (its embedding width is the hidden size, as in ptb_tf)."""
    return ["--data", data_folder, "--model", "LSTM",
            "--emsize", str(config.hidden_size),
            "--nhid", str(config.hidden_size),
            "--nlayers", str(config.num_layers),
            "--dropout", str(round(1.0 - config.keep_prob, 6)),
            "--bptt", str(config.num_steps),
            "--batch_size", str(config.batch_size),
            "--epochs", "1", "--log-interval", str(log_every),
            "--save", save_file]


def example_data_folder(data_path, folder):
    """Fills `folder` with links to PTB's ptb.*.txt under the names the
    example reads (train.txt, valid.txt, test.txt)."""
    for split in ("train", "valid", "test"):
        os.symlink(os.path.abspath(os.path.join(data_path, f"ptb.{split}.txt")),
                   os.path.join(folder, f"{split}.txt"))


def example_words_per_second(command, config, lines):
    """Runs the example until it has printed `lines` timed progress lines
    after its first; their median ms/batch as words/s."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    timings, output = [], []
    try:
        for line in process.stdout:
            output.append(line)
            found = _MS_PER_BATCH.search(line)
            if found:
                timings.append(float(found.group(1)))
                if len(timings) > lines:
                    break
    finally:
        process.kill()
        process.wait()
    if len(timings) <= lines:
        raise UserError("the PyTorch example stopped before it printed its "
                        f"timings; its last lines: {''.join(output[-3:]).strip()}")
    words_per_batch = config.batch_size * config.num_steps
    return words_per_batch / (statistics.median(timings[1:]) / 1e3)


def beaten_bounds(rates, bounds):
    """The paths whose words/s in a round (rates: {path: words/s}) beat
    their shape bound of that round (bounds: {path: words/s}): a bound
    cannot be beaten, so that round's rates were measured in a slow spell."""
    return [variant for variant, bound in bounds.items()
            if rates[variant] > bound]


def main(argv):
    cli.check_no_arguments(argv)
    cli.require_data_path(FLAGS.data_path)
    if not FLAGS.pytorch_example or not os.path.isfile(
            os.path.join(FLAGS.pytorch_example, "main.py")):
        raise UsageError("--pytorch_example must name the word_language_model "
                         "folder of a clone of github.com/pytorch/examples. "
                         f"Received: {FLAGS.pytorch_example}")
    variants = variants_or_default(FLAGS.variants)
    check_configs_and_variants(FLAGS.configs, variants)
    if not FLAGS.configs or not variants:
        raise UsageError("--configs and --variants must each name at least one "
                         "(see python -m ptb_tf.benchmark --help)")
    cli.check_min(FLAGS, 1, "rounds", "log_every", "pytorch_lines")
    found = subprocess.run([FLAGS.torch_python, "-c",
                            "import torch; print(torch.__version__)"],
                           capture_output=True, text=True, check=False)
    if found.returncode:
        raise UserError(f"{FLAGS.torch_python} cannot import torch: install it "
                        "(pip install torch) or name another with --torch_python")
    corpus = load_corpus(FLAGS.data_path)
    tf = cli.quiet_tensorflow()
    from ptb_tf.bench import speed  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.results import machine_info  # pylint: disable=g-import-not-at-top

    report = {"machine": machine_info(), "torch": found.stdout.strip(),
              "command": "python benchmarks/pytorch_side_by_side.py "
                         + " ".join(sys.argv[1:]), "configs": {}}
    with tempfile.TemporaryDirectory() as folder:
        data_folder = os.path.join(folder, "data")
        os.mkdir(data_folder)
        example_data_folder(FLAGS.data_path, data_folder)
        for name in FLAGS.configs:
            config = PRESETS[name]
            command = [FLAGS.torch_python,
                       os.path.join(FLAGS.pytorch_example, "main.py"),
                       *example_flags(config, data_folder,
                                      os.path.join(folder, "model.pt"),
                                      FLAGS.log_every)]
            rates = {"pytorch example": [],
                     **{variant: [] for variant in variants}}
            bounds = {variant: [] for variant in variants}
            for round_index in range(FLAGS.rounds):
                rates["pytorch example"].append(example_words_per_second(
                    command, config, FLAGS.pytorch_lines))
                for variant in variants:
                    rates[variant].append(speed.train_rate(
                        tf, corpus, config, 3, 20, variant)["words_per_second"])
                for variant, bound in speed.bounds_now(
                        tf, name, config, variants).items():
                    bounds[variant].append(bound)
                print(f"{name} round {round_index + 1}: " + ", ".join(
                    f"{key} {values[-1]:.0f}" for key, values in rates.items())
                    + " words/s; shape bounds " + ", ".join(
                        f"{key} {values[-1]:.0f}" for key, values
                        in bounds.items()), flush=True)
                beaten = beaten_bounds(
                    {key: values[-1] for key, values in rates.items()},
                    {key: values[-1] for key, values in bounds.items()})
                if beaten:
                    print(f"  BOUND TOO LOW in this round ({', '.join(beaten)} "
                          "ran faster than its bound, whose rates were measured "
                          "in a slow spell)", flush=True)
            medians = {key: statistics.median(values)
                       for key, values in rates.items()}
            bound_medians = {key: statistics.median(values)
                             for key, values in bounds.items()}
            best = max(variants, key=lambda variant: medians[variant])
            ratio = medians[best] / medians["pytorch example"]
            # Twice the example against the highest bound of any path: over
            # 1, no path of ptb_tf can reach 2x on this machine.
            highest = max(bound_medians, key=bound_medians.get)
            two_x = 2 * medians["pytorch example"] / bound_medians[highest]
            report["configs"][name] = {
                "words_per_second": medians, "rounds": rates,
                "bound_words_per_second": bound_medians, "bound_rounds": bounds,
                "example_command": " ".join(command[1:]),
                "best_variant": best, "ratio": ratio,
                "two_x_over_highest_bound": two_x}
            print(f"{name}: ptb_tf {best} {medians[best]:.0f} words/s, the "
                  f"PyTorch example {medians['pytorch example']:.0f}: "
                  f"{ratio:.2f}x; 2x the example is {100 * two_x:.0f}% of the "
                  f"highest shape bound ({highest} "
                  f"{bound_medians[highest]:.0f} words/s)"
                  + (": out of reach on this machine" if two_x > 1 else ""),
                  flush=True)
    if FLAGS.results_file:
        write_json(FLAGS.results_file, report)


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
