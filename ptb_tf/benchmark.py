r"""Measures ptb_tf against this machine's own limit: `python -m ptb_tf.benchmark`.

    python -m ptb_tf.benchmark --data_path=simple-examples/data \
        --results_file=results/benchmark.json

In one run: the float32 and bfloat16 matmul rates (a large square and the
models' own shapes); for each config, steady-state training words per second
on real PTB batches (median of several windows after warm-up), ms per step,
achieved GFLOP/s and its fraction of the measured ceiling and of its shapes'
bound, the batch part by part (softmax layer, recurrence, the rest) and the
fraction again from rounds that time a window just after measuring its bound;
peak memory; the exact batch-1 test evaluation time; SavedModel `step`
latency at batch 1 and `score` time at batch 64; the tf.data pipeline alone.
Prints a table and writes JSON. Weights are untrained: speed does not depend on their values.
"""

import statistics
import sys

from absl import flags

from ptb_tf import cli
from ptb_tf.bench import speed
from ptb_tf.bench.common import (DEFAULT_VARIANTS_HELP,
                                 check_configs_and_variants, matmul_dtype,
                                 parse_variant, peak_rss_mb,
                                 variants_or_default)
from ptb_tf.config import PRESETS
from ptb_tf.corpus.splits import load_corpus
from ptb_tf.files import write_json


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_string("data_path", None, "Folder with the PTB files.",
                        flag_values=flag_values)
    flags.DEFINE_list("configs", ["small", "medium"],
                      "Configs to time training for (--configs= for none: the "
                      "matmul rates and inference only).",
                      flag_values=flag_values)
    flags.DEFINE_list("variants", None,
                      "Training paths to time: an rnn_mode, +xla for XLA, "
                      "+bf16 for mixed_bfloat16 (e.g. unrolled+xla+bf16); "
                      "each also times a test-config epoch ("
                      + DEFAULT_VARIANTS_HELP + ").",
                      flag_values=flag_values)
    flags.DEFINE_integer("windows", 7, "Timed windows per config (median).",
                         flag_values=flag_values)
    flags.DEFINE_integer("batches_per_window", 20,
                         "Training batches per timed window.",
                         flag_values=flag_values)
    flags.DEFINE_integer("paired_rounds", 5,
                         "Rounds that each measure a path's shape bound and "
                         "then time one training window beside it (0: none).",
                         flag_values=flag_values)
    flags.DEFINE_string("results_file", None, "Write the results JSON here.",
                        flag_values=flag_values)
    # Train's name for its results JSON, now every command's.
    cli.define_old_name("output", "results_file", flag_values)


def main(argv):
    cli.check_no_arguments(argv)
    cli.require_data_path(FLAGS.data_path)
    variants = variants_or_default(FLAGS.variants)
    check_configs_and_variants(FLAGS.configs, variants)
    corpus = load_corpus(FLAGS.data_path)
    tf = cli.quiet_tensorflow()
    from ptb_tf.training.results import machine_info  # pylint: disable=g-import-not-at-top

    report = {"machine": machine_info(),
              "command": "python -m ptb_tf.benchmark "
                         + " ".join(sys.argv[1:]),
              "variants": variants}
    machine = report["machine"]
    # Figures are this machine's: say which one, with what it can run.
    print(f"machine: {machine['cpu_description']}, {machine['cores']} cores, "
          f"TensorFlow {machine['tensorflow']}; paths: {', '.join(variants)}",
          flush=True)
    shapes, passes = {"2048^3": (2048, 2048, 2048)}, {}
    for name in FLAGS.configs:
        config = PRESETS[name]
        for rnn_mode in sorted({parse_variant(variant)[0]
                                for variant in variants}):
            shapes.update(speed.bound_shapes(
                name, speed.step_matmuls(config, rnn_mode)))
        passes.update(speed.pass_shapes(name, speed.step_passes(config)))
    # The test config's epoch is timed below beside its passes' share.
    passes.update(speed.pass_shapes("test", speed.step_passes(PRESETS["test"])))
    inference_work = speed.inference_workloads(PRESETS["small"])
    for workload, (matmuls, softmax, _) in inference_work.items():
        shapes.update(speed.bound_shapes(f"small {workload}", matmuls))
        passes.update(speed.pass_shapes(f"small {workload}", softmax))
    report["matmul_gflops"] = speed.matmul_rates(tf, shapes)
    report["plain_matmul_gflops"] = speed.plain_matmul_rates(tf)
    for key, rate in [*report["matmul_gflops"].items(),
                      *[(f"{key} (plain, one call)", rate) for key, rate
                        in report["plain_matmul_gflops"].items()]]:
        print(f"matmul {key}: {rate['median']:.0f} GFLOP/s (median of "
              f"{rate['trials']}; {rate['min']:.0f}-{rate['max']:.0f}, spread "
              f"{100 * rate['spread']:.0f}%)"
              + ("  NOISY: the machine was busy; do not trust this figure"
                 if rate["noisy"] else ""), flush=True)
    report["softmax_passes_per_second"] = speed.softmax_pass_rates(tf, passes)
    for key, rate in report["softmax_passes_per_second"].items():
        print(f"{key} pass: {1e3 / rate['median']:.3f} ms (median of "
              f"{rate['trials']}; spread {100 * rate['spread']:.0f}%)"
              + ("  NOISY" if rate["noisy"] else ""), flush=True)

    report["training"] = {}
    for name, variant in [(name, variant) for name in FLAGS.configs
                          for variant in variants]:
        config = PRESETS[name]
        result = speed.train_rate(tf, corpus, config, FLAGS.windows,
                            FLAGS.batches_per_window, variant)
        # A bfloat16 run is measured against the bfloat16 matmul rates.
        rnn_mode, dtype_name = parse_variant(variant)[0], matmul_dtype(variant)
        ceiling_of = report["matmul_gflops"][f"{dtype_name} 2048^3"]["median"]
        result["fraction_of_ceiling"] = result["gflops"] / ceiling_of
        result["ceiling_words_per_second"] = (ceiling_of * 1e9
                                              / speed.flops_per_word(config))
        bound = speed.shape_bound(name, config, report["matmul_gflops"],
                                  report["softmax_passes_per_second"],
                                  dtype_name, rnn_mode)
        result["bound_words_per_second"] = bound["words_per_second"]
        result["fraction_of_bound"] = (result["words_per_second"]
                                       / bound["words_per_second"])
        parts = speed.train_parts(tf, corpus, config, variant, FLAGS.windows,
                                  FLAGS.batches_per_window)
        # The whole batch timed beside its parts, not the figure above:
        # what the parts leave of it must come from one moment of the host.
        result["parts_batch_ms"] = parts.pop("a batch")
        part_bounds = speed.part_bounds_ms(bound)
        result["parts_ms"] = {
            part: {"ms": ms, "bound_ms": part_bounds[part],
                   "fraction_of_bound": part_bounds[part] / ms}
            for part, ms in parts.items()}
        result["rest_ms"] = result["parts_batch_ms"] - sum(parts.values())
        result["bound_contradicted"] = speed.bound_contradicted(
            result["fraction_of_bound"], result["parts_ms"])
        result["peak_rss_mb"] = peak_rss_mb()
        report["training"][f"{name} {variant}"] = result
        print(f"train {name} {variant}: {result['words_per_second']:.0f} words/s, "
              f"{result['ms_per_step']:.1f} ms/step; "
              f"{100 * result['fraction_of_bound']:.0f}% of its shapes' bound "
              f"({bound['words_per_second']:.0f} words/s), "
              f"{100 * result['fraction_of_ceiling']:.0f}% of the 2048^3 peak "
              f"({result['ceiling_words_per_second']:.0f} words/s)",
              flush=True)
        print(f"  a batch, part by part (timed in alternating rounds): "
              f"{result['parts_batch_ms']:.1f} ms a batch; " + ", ".join(
                  f"{part} {figures['ms']:.1f} ms "
                  f"({100 * figures['fraction_of_bound']:.0f}% of its bound's "
                  f"{figures['bound_ms']:.1f} ms)"
                  for part, figures in result["parts_ms"].items())
              + f"; the rest (update, clipping, between parts) "
                f"{result['rest_ms']:.1f} ms", flush=True)
        if result["bound_contradicted"]:
            print("  BOUND TOO LOW: a figure ran faster than its bound, whose "
                  "rates were measured in a slow spell; do not trust these "
                  "fractions", flush=True)
        if FLAGS.paired_rounds:
            paired = speed.paired_rounds(tf, corpus, name, config, variant,
                                         FLAGS.paired_rounds,
                                         FLAGS.batches_per_window)
            result["paired_rounds"] = paired
            beaten = sum(each["fraction_of_bound"] > 1
                         for each in paired["rounds"])
            print(f"  in {FLAGS.paired_rounds} rounds, each window timed just "
                  f"after its bound was measured: {100 * paired['median']:.0f}% "
                  f"of its bound (median; {100 * paired['min']:.0f}-"
                  f"{100 * paired['max']:.0f}%)"
                  + (f"; {beaten} beat their bound, measured in a slow spell"
                     if beaten else ""), flush=True)

    small, test = PRESETS["small"], PRESETS["test"]
    report["test_config_epoch_seconds"] = {}
    report["test_config_epochs_seconds"] = {}
    report["test_config_epoch_pass_seconds"] = {}
    for variant in variants:
        seconds = speed.epoch_times(corpus, test, variant)
        median = statistics.median(seconds)
        report["test_config_epochs_seconds"][variant] = seconds
        report["test_config_epoch_seconds"][variant] = median
        # Its 2-unit model's step is little but the log-softmax over its
        # [40, 10000] logits: their two passes, at the rate measured for
        # them, are the floor under the epoch.
        floor = report["test_config_epoch_pass_seconds"][variant] = (
            speed.epoch_pass_seconds("test", len(corpus.train), test,
                                     report["softmax_passes_per_second"],
                                     matmul_dtype(variant)))
        print(f"test config {variant}, one full epoch: {median:.1f} s (median of "
              f"{len(seconds)}: " + ", ".join(f"{value:.1f}" for value in seconds)
              + f"); its log-softmax passes alone {floor:.1f} s", flush=True)
    report["exact_test_seconds_small"] = speed.exact_test_seconds(corpus, small)
    print(f"exact test evaluation (small, batch 1, 82,429 predictions): "
          f"{report['exact_test_seconds_small']:.1f} s", flush=True)
    exact = report["exact_test"] = {
        "predictions": speed.EXACT_TEST_PREDICTIONS, "words_per_second": {}}
    for name in FLAGS.configs:
        rates = speed.exact_test_rates(corpus, PRESETS[name], variants)
        for model, rate in rates.items():
            exact["words_per_second"][f"{name} {model}"] = rate
            print(f"exact test, {name} {model}, batch 1, the first "
                  f"{exact['predictions']:,} predictions: "
                  f"{rate['median']:,.0f} words/s ({rate['min']:,.0f}-"
                  f"{rate['max']:,.0f})" + (", NOISY" if rate["noisy"] else ""),
                  flush=True)
    serving = speed.inference(tf, corpus, small)
    print(f"SavedModel (small): step at batch 1 p50 {serving['step_p50_ms']:.2f} "
          f"ms, p99 {serving['step_p99_ms']:.2f} ms", flush=True)
    for workload, (matmuls, softmax, words) in inference_work.items():
        rate = serving[workload]
        rate["bound_words_per_second"] = speed.inference_bound(
            f"small {workload}", matmuls, softmax, words,
            report["matmul_gflops"], report["softmax_passes_per_second"])
        rate["fraction_of_bound"] = rate["median"] / rate["bound_words_per_second"]
        print(f"SavedModel (small) {workload}: {rate['median']:.0f} words/s "
              f"({rate['min']:.0f}-{rate['max']:.0f}), "
              f"{100 * rate['fraction_of_bound']:.0f}% of its shapes' bound "
              f"({rate['bound_words_per_second']:.0f} words/s)"
              + ("  NOISY: the machine was busy" if rate["noisy"] else ""),
              flush=True)
    report["serving_small"] = serving
    report["pipeline_words_per_second"] = speed.pipeline_rate(corpus, small)
    print(f"tf.data pipeline alone: "
          f"{report['pipeline_words_per_second']:.0f} words/s", flush=True)
    report["checkpoint_seconds_small"] = speed.checkpoint_seconds(tf, small)
    fastest = max(((result["words_per_second"], key) for key, result
                   in report["training"].items() if key.startswith("small ")),
                  default=None)
    if fastest:
        costs = speed.side_costs(report["pipeline_words_per_second"],
                           report["checkpoint_seconds_small"], corpus,
                           fastest[0])
        report["side_costs_small"] = dict(costs, variant=fastest[1])
        print(f"side costs of a small epoch ({fastest[1]}, "
              f"{costs['epoch_seconds']:.0f} s): tf.data "
              f"{100 * costs['pipeline_fraction']:.2f}%, one checkpoint "
              f"{100 * costs['checkpoint_fraction']:.2f}%", flush=True)
    report["peak_rss_mb"] = peak_rss_mb()
    if FLAGS.results_file:
        write_json(FLAGS.results_file, report)


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
