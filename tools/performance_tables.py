r"""docs/performance.md's tables, written from one benchmark run's JSON.

    python tools/performance_tables.py results/benchmark.json \
        [--side_by_side=results/pytorch_side_by_side.json] > tables.md

Every figure comes from the files named: the matmul rates (median, min-max
and spread of each), the log-softmax passes' times, training words/s per
config and path beside its shape bound and the 2048^3 peak and a batch part
by part, inference (score, generate, step) beside theirs, the test config's
epoch and the side costs; with --side_by_side, the PyTorch
example's words/s and the ratio.
"""

import argparse
import json
import sys


def _rate(rate):
    """A rate_trials dict as "median (min-max, spread x%)"."""
    return (f"{rate['median']:,.0f} ({rate['min']:,.0f}-{rate['max']:,.0f}, "
            f"spread {100 * rate['spread']:.0f}%"
            + (", NOISY" if rate["noisy"] else "") + ")")


def ceilings(report):
    """The 2048^3 rates: looped over independent operands, and plain."""
    rows = ["| matmul 2048^3 | GFLOP/s, looped (min-max) | plain, one call at a time |",
            "|---|---|---|"]
    for dtype in ("float32", "bfloat16"):
        rows.append(f"| {dtype} | {_rate(report['matmul_gflops'][f'{dtype} 2048^3'])} "
                    f"| {_rate(report['plain_matmul_gflops'][f'{dtype} 2048^3'])} |")
    return "\n".join(rows)


def passes(report):
    """The log-softmax passes' times, float32 and bfloat16 logits (reports
    before the bound charged them have none)."""
    rates = report.get("softmax_passes_per_second")
    if not rates:
        return ""
    rows = ["| log-softmax pass, one XLA loop | float32 logits, ms (spread) "
            "| bfloat16 logits, ms (spread) |", "|---|---|---|"]
    for key in [key.split(" ", 1)[1] for key in rates
                if key.startswith("float32 ")]:
        cells = [f"{1e3 / rate['median']:.2f} ({100 * rate['spread']:.0f}%"
                 + (", NOISY" if rate["noisy"] else "") + ")"
                 for rate in (rates[f"float32 {key}"], rates[f"bfloat16 {key}"])]
        rows.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def training(report):
    """Each config and path: words/s, its shape bound and the peak."""
    # Runs before the paired rounds (ptb_tf.bench.speed.paired_rounds) have
    # no such column.
    paired = any("paired_rounds" in result
                 for result in report["training"].values())
    rows = ["| config | path | words/s | of its shapes' bound (words/s) "
            "| of the 2048^3 peak (words/s) |"
            + (" of its bound, paired rounds: median (min-max) |"
               if paired else ""),
            "|---|---|---|---|---|" + ("---|" if paired else "")]
    for key, result in report["training"].items():
        name, variant = key.split(" ", 1)
        rounds = result.get("paired_rounds")
        rows.append(
            f"| {name} | `{variant}` | {result['words_per_second']:,.0f} "
            f"| {100 * result['fraction_of_bound']:.0f}% of "
            f"{result['bound_words_per_second']:,.0f}"
            + (" (BOUND TOO LOW: a figure beat it)"
               if result.get("bound_contradicted") else "") + " "
            f"| {100 * result['fraction_of_ceiling']:.0f}% of "
            f"{result['ceiling_words_per_second']:,.0f} |"
            + ((f" {100 * rounds['median']:.0f}% ({100 * rounds['min']:.0f}-"
                f"{100 * rounds['max']:.0f}%"
                + ("; a round beat its bound" if rounds["max"] > 1 else "")
                + ") |" if rounds else " |")
               if paired else ""))
    parted = [(key, result) for key, result in report["training"].items()
              if "parts_ms" in result]  # reports before the parts had none
    if parted:
        # Since the bound charged the log-softmax passes, the softmax
        # layer's bound holds them besides its matmuls.
        softmax_bound = ("its matmuls and passes"
                         if "softmax_passes_per_second" in report
                         else "its matmuls")
        rows += ["", f"| config | path | a batch | softmax layer ({softmax_bound}) "
                 "| recurrence (its matmuls) | the rest |",
                 "|---|---|---|---|---|---|"]
        for key, result in parted:
            name, variant = key.split(" ", 1)
            # Since the whole batch was timed beside its parts, that figure;
            # before, the training figure's ms a step.
            batch_ms = result.get("parts_batch_ms", result["ms_per_step"])
            rows.append(f"| {name} | `{variant}` | {batch_ms:.1f} ms | "
                        + " | ".join(
                            f"{part['ms']:.1f} ms ({part['bound_ms']:.1f} ms)"
                            for part in result["parts_ms"].values())
                        + f" | {result['rest_ms']:.1f} ms |")
    return "\n".join(rows)


def inference(report):
    """The small model's SavedModel: score and generate against their
    bounds, and the step's latency."""
    serving = report["serving_small"]
    rows = ["| SavedModel, small | words/s (min-max) | of its shapes' bound (words/s) |",
            "|---|---|---|"]
    for key, rate in serving.items():
        if isinstance(rate, dict):
            rows.append(f"| `{key.split()[0]}` {' '.join(key.split()[1:])} "
                        f"| {_rate(rate)} | {100 * rate['fraction_of_bound']:.0f}% of "
                        f"{rate['bound_words_per_second']:,.0f} |")
    rows.append(f"| `step`, batch 1 | p50 {serving['step_p50_ms']:.2f} ms, "
                f"p99 {serving['step_p99_ms']:.2f} ms | |")
    return "\n".join(rows)


def other(report):
    """The test config's epoch per path, the exact test, the side costs."""
    each = report.get("test_config_epochs_seconds", {})  # since f28d18b
    floors = report.get("test_config_epoch_pass_seconds", {})
    epochs = ", ".join(
        f"`{variant}` {seconds:.1f} s" + (
            " (" + ", ".join(f"{value:.1f}" for value in each[variant]) + ")"
            if variant in each else "")
        + (f", its log-softmax passes alone {floors[variant]:.1f} s"
           if variant in floors else "")
        for variant, seconds in report["test_config_epoch_seconds"].items())
    rows = ["| other measurements | |", "|---|---|",
            "| test config, one full PTB epoch (23,239 steps; the median, "
            f"and each epoch where timed) | {epochs} |",
            "| exact test evaluation, small, batch 1, 82,429 predictions "
            f"| {report['exact_test_seconds_small']:.1f} s |"]
    exact = report.get("exact_test")  # since 129b670
    if exact:
        rates = []
        for key, rate in exact["words_per_second"].items():
            config, model = key.split(" ")
            rates.append(f"{config} `{model}` {rate['median']:,.0f} "
                         f"({rate['min']:,.0f}-{rate['max']:,.0f})")
        rows.append(f"| exact test, batch 1, the test's first "
                    f"{exact['predictions']:,} predictions (words/s, median "
                    f"(min-max)) | {', '.join(rates)} |")
    rows += ["| tf.data pipeline alone "
             f"| {report['pipeline_words_per_second'] / 1e6:.1f} M words/s |",
             "| one checkpoint, small "
             f"| {1e3 * report['checkpoint_seconds_small']:.0f} ms |"]
    costs = report.get("side_costs_small")
    if costs:
        rows.append(f"| side costs of a small epoch (`{costs['variant']}`) "
                    f"| tf.data {100 * costs['pipeline_fraction']:.2f}%, one "
                    f"checkpoint {100 * costs['checkpoint_fraction']:.2f}% |")
    return "\n".join(rows)


def side_by_side(report):
    """ptb_tf's paths and the PyTorch example, words/s, and the ratio."""
    rows = ["| config | the PyTorch example | ptb_tf, each path | best / example |",
            "|---|---|---|---|"]
    for name, result in report["configs"].items():
        rates = result["words_per_second"]
        paths = ", ".join(f"`{key}` {value:,.0f}" for key, value in rates.items()
                          if key != "pytorch example")
        rows.append(f"| {name} | {rates['pytorch example']:,.0f} | {paths} "
                    f"| **{result['ratio']:.2f}x** (`{result['best_variant']}`) |")
    return "\n".join(rows)


# The folders a command names on one machine, as docs/performance.md writes
# them for any machine.
PLACEHOLDERS = {"--data_path": "$PTB", "--pytorch_example": "$EXAMPLE",
                "--torch_python": "$TORCH_PYTHON"}


def portable(command):
    """A recorded command with its machine's folders as the docs' names:
    --data_path=/work/shared/data/ptb -> --data_path=$PTB."""
    words = []
    for word in command.split():
        flag, equals, _ = word.partition("=")
        words.append(f"{flag}={PLACEHOLDERS[flag]}"
                     if equals and flag in PLACEHOLDERS else word)
    return " ".join(words)


def tables(report, side=None) -> str:
    parts = [f"Command: `{portable(report['command'])}`", ceilings(report),
             passes(report), training(report), inference(report),
             other(report)]
    parts = [part for part in parts if part]
    if side:
        parts += [f"Command: `{portable(side['command'])}` (torch {side['torch']})",
                  side_by_side(side)]
    return "\n\n".join(parts) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", help="python -m ptb_tf.benchmark's JSON")
    parser.add_argument("--side_by_side",
                        help="benchmarks/pytorch_side_by_side.py's JSON")
    args = parser.parse_args(argv)
    try:
        with open(args.benchmark, encoding="utf-8") as file:
            report = json.load(file)
        side = None
        if args.side_by_side:
            with open(args.side_by_side, encoding="utf-8") as file:
                side = json.load(file)
        sys.stdout.write(tables(report, side))
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"error: cannot make the tables ({error!r}): pass the JSON "
                 "files that the benchmark and the side-by-side script wrote")


if __name__ == "__main__":
    main()
