r"""Measures ptb_tf against this machine's own limit: `python -m ptb_tf.benchmark`.

    python -m ptb_tf.benchmark --data_path=../shared/data/ptb \
        --output=results/benchmark.json

In one run: the float32 and bfloat16 matmul rates (a large square and the
models' own shapes); for each config, steady-state training words per second
on real PTB batches (median of several windows after warm-up), ms per step,
achieved GFLOP/s and its fraction of the measured ceiling; peak memory; the
exact batch-1 test evaluation time; SavedModel `step` latency at batch 1 and
`score` time at batch 64; the tf.data pipeline alone. Prints a table and
writes JSON. Weights are untrained: speed does not depend on their values.
"""

import json
import os
import resource
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

from ptb_tf import cli
from ptb_tf import reader
from ptb_tf.config import PRESETS
from ptb_tf.errors import UsageError
from ptb_tf.files import atomic_write_text

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_string("data_path", None, "Folder with the PTB files.",
                        flag_values=flag_values)
    flags.DEFINE_list("configs", ["small", "medium"],
                      "Configs to time training for.", flag_values=flag_values)
    flags.DEFINE_list("variants", ["keras", "unrolled", "block", "unrolled+xla"],
                      "Training paths to time: an rnn_mode, +xla for XLA, "
                      "+bf16 for mixed_bfloat16 (e.g. unrolled+xla+bf16).",
                      flag_values=flag_values)
    flags.DEFINE_integer("windows", 7, "Timed windows per config (median).",
                         flag_values=flag_values)
    flags.DEFINE_integer("batches_per_window", 20,
                         "Training batches per timed window.",
                         flag_values=flag_values)
    flags.DEFINE_string("output", None, "Write the results JSON here.",
                        flag_values=flag_values)


def parse_variant(variant: str):
    """"unrolled+xla+bf16" -> ("unrolled", jit_compile=True, "mixed_bfloat16")."""
    rnn_mode, *options = variant.split("+")
    precision = "mixed_bfloat16" if "bf16" in options else "float32"
    return rnn_mode, "xla" in options, precision


def check_variant(variant: str) -> bool:
    """Whether a variant names known options that go together."""
    from ptb_tf.model_modes import run_options_problem  # pylint: disable=g-import-not-at-top
    options = variant.split("+")[1:]
    return (set(options) <= {"xla", "bf16"}
            and run_options_problem(*parse_variant(variant)) is None)


def trainer_for(config, variant: str):
    """A Trainer on a fresh model for a variant such as "unrolled+xla"."""
    from ptb_tf import training  # pylint: disable=g-import-not-at-top
    rnn_mode, xla, precision = parse_variant(variant)
    return training.Trainer(training.build_model(config, rnn_mode, precision),
                            config, jit_compile=xla)


def flops_per_word(config) -> float:
    """Training FLOPs per word: 3x the forward multiply-adds (forward, and the
    two backward matmuls) of the LSTM layers and the softmax, 2 FLOPs each."""
    hidden = config.hidden_size
    lstm = config.num_layers * (hidden + hidden) * 4 * hidden
    return 3 * 2 * (lstm + hidden * config.vocab_size)


def _median_rate(run, repeats, work):
    """Median of work / seconds over `repeats` calls of run() (after one)."""
    run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(work / (time.perf_counter() - start))
    return statistics.median(rates)


def matmul_rates(tf, shapes):
    """GFLOP/s of [m, k] x [k, n] matmuls in float32 and bfloat16."""
    results = {}
    for dtype in (tf.float32, tf.bfloat16):
        for name, (m, k, n) in shapes.items():
            a = tf.cast(tf.random.normal([m, k]), dtype)
            b = tf.cast(tf.random.normal([k, n]), dtype)
            repeat = max(1, int(2e10 // (2 * m * k * n)))  # ~20 GFLOP a call

            @tf.function
            def chain(a=a, b=b, repeat=repeat):
                total = tf.zeros([], dtype)
                for _ in range(repeat):
                    total += tf.matmul(a, b)[0, 0]
                return total

            rate = _median_rate(lambda: chain().numpy(), 5,
                                2 * m * k * n * repeat / 1e9)
            results[f"{dtype.name} {name}"] = rate
    return results


def train_rate(tf, corpus, config, windows, batches_per_window, variant):
    """Steady-state training speed of `config` on real PTB batches."""
    from ptb_tf.pipeline import window_dataset  # pylint: disable=g-import-not-at-top
    trainer = trainer_for(config, variant)
    inputs, targets = next(iter(window_dataset(
        corpus.train, config.batch_size, config.num_steps).batch(
            batches_per_window)))
    count = tf.constant(batches_per_window)
    state = [trainer.model.zero_state(config.batch_size)]

    def run():
        _, cost, state[0], _, _ = trainer.train_steps(inputs, targets,
                                                      count, state[0])
        cost.numpy()

    words = batches_per_window * config.batch_size * config.num_steps
    run()  # tracing
    words_per_second = _median_rate(run, windows, words)
    return {"words_per_second": words_per_second,
            "ms_per_step": 1e3 * config.batch_size * config.num_steps
                           / words_per_second,
            "gflops": words_per_second * flops_per_word(config) / 1e9}


def epoch_time(corpus, config, variant):
    """Seconds of one full training epoch (the per-step overhead test)."""
    trainer = trainer_for(config, variant)

    def epoch():
        return trainer.run_epoch(corpus.train, config.batch_size,
                                 config.num_steps, train=True)["seconds"]

    epoch()  # A first epoch traces and compiles: time the second.
    return epoch()


def exact_test_seconds(corpus, config, window=500):
    from ptb_tf import training  # pylint: disable=g-import-not-at-top
    trainer = training.Trainer(training.build_model(config), config)
    trainer.evaluate_exact(corpus.test[:window * 2 + 7], window)  # tracing
    start = time.perf_counter()
    trainer.evaluate_exact(corpus.test, window)
    return time.perf_counter() - start


def serving_latency(tf, corpus, config):
    """step at batch 1 (p50, p99 ms) and score of 64 x 35 words (ms)."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    from ptb_tf import serving, training, versions  # pylint: disable=g-import-not-at-top
    model = training.build_model(config)
    with tempfile.TemporaryDirectory() as folder:
        vocab_path = os.path.join(folder, "vocab.txt")
        corpus.vocab.save(vocab_path)
        module = serving.ServingModule(model, vocab_path)
        path = versions.write_version(
            os.path.join(folder, "export"),
            lambda out: tf.saved_model.save(module, out,
                                            signatures=module.signatures()))
        signatures = tf.saved_model.load(path).signatures
        step = signatures["step"]
        state = signatures["start_state"](batch_size=tf.constant(1))["state"]
        word = tf.constant(["the"])
        for _ in range(20):
            state = step(words=word, state=state)["state"]
        latencies = []
        for _ in range(500):
            start = time.perf_counter()
            result = step(words=word, state=state)
            result["state"].numpy()
            latencies.append(1e3 * (time.perf_counter() - start))
            state = result["state"]
        words = corpus.vocab.decode(corpus.test[:64 * 35])
        batch = tf.constant(np.array(words).reshape(64, 35))
        score = signatures["score"]
        score(words=batch)["log_probability"].numpy()
        score_ms = []
        for _ in range(20):
            start = time.perf_counter()
            score(words=batch)["log_probability"].numpy()
            score_ms.append(1e3 * (time.perf_counter() - start))
    return {"step_p50_ms": float(np.percentile(latencies, 50)),
            "step_p99_ms": float(np.percentile(latencies, 99)),
            "score_64x35_ms": statistics.median(score_ms)}


def pipeline_rate(corpus, config):
    """Words per second of the tf.data pipeline alone (the training chunks)."""
    from ptb_tf.pipeline import chunk_dataset  # pylint: disable=g-import-not-at-top
    from ptb_tf.training import chunk_size  # pylint: disable=g-import-not-at-top
    size = chunk_size(corpus.train, config.batch_size, config.num_steps)

    def run():
        for _ in chunk_dataset(corpus.train, config.batch_size,
                               config.num_steps, size):
            pass

    return _median_rate(run, 3, len(corpus.train))


def checkpoint_seconds(tf, config):
    """Seconds to write one checkpoint of `config` (model and optimizer)."""
    from ptb_tf import training  # pylint: disable=g-import-not-at-top
    trainer = training.Trainer(training.build_model(config), config)
    checkpoint = tf.train.Checkpoint(model=trainer.model,
                                     optimizer=trainer.optimizer)
    with tempfile.TemporaryDirectory() as folder:
        manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
        return statistics.median(
            _timed(manager.save) for _ in range(5))


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def side_costs(pipeline_words_per_second, save_seconds, corpus,
               words_per_second):
    """What the pipeline, checkpointing and logging add to one training epoch.

    As fractions of the epoch's compute time at `words_per_second`: the whole
    epoch's data through tf.data, timed alone (prefetching overlaps it with
    training, so this is an upper bound) and one checkpoint (written once an
    epoch). The ten progress lines read a loss each chunk's call has already
    returned, and print: nothing to time.
    """
    epoch_seconds = len(corpus.train) / words_per_second
    return {"epoch_seconds": epoch_seconds,
            "pipeline_fraction": (len(corpus.train) / pipeline_words_per_second
                                  / epoch_seconds),
            "checkpoint_fraction": save_seconds / epoch_seconds}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv):
    cli.check_no_arguments(argv)
    cli.require_data_path(FLAGS.data_path)
    bad = [variant for variant in FLAGS.variants if not check_variant(variant)]
    if bad:
        raise UsageError("--variants must be keras, unrolled or block, the "
                         "first two optionally with +xla and/or +bf16. "
                         f"Received: {','.join(bad)}")
    unknown = [name for name in FLAGS.configs if name not in PRESETS]
    if unknown:
        raise UsageError(f"--configs must name configs of {', '.join(PRESETS)}. "
                         f"Received: {','.join(unknown)}")
    corpus = reader.load_corpus(FLAGS.data_path)
    tf = cli.quiet_tensorflow()
    from ptb_tf import training  # pylint: disable=g-import-not-at-top

    report = {"machine": training.machine_info(),
              "command": "python -m ptb_tf.benchmark "
                         + " ".join(sys.argv[1:])}
    shapes = {"2048^3": (2048, 2048, 2048)}
    for name in FLAGS.configs:
        config = PRESETS[name]
        words = config.batch_size * config.num_steps
        shapes[f"{name} softmax"] = (words, config.hidden_size,
                                     config.vocab_size)
        shapes[f"{name} recurrent"] = (config.batch_size, config.hidden_size,
                                       4 * config.hidden_size)
    report["matmul_gflops"] = matmul_rates(tf, shapes)
    ceiling = report["matmul_gflops"]["float32 2048^3"]
    print(f"matmul ceiling: float32 {ceiling:.0f} GFLOP/s, bfloat16 "
          f"{report['matmul_gflops']['bfloat16 2048^3']:.0f} GFLOP/s", flush=True)

    report["training"] = {}
    for name, variant in [(name, variant) for name in FLAGS.configs
                          for variant in FLAGS.variants]:
        config = PRESETS[name]
        result = train_rate(tf, corpus, config, FLAGS.windows,
                            FLAGS.batches_per_window, variant)
        # A bfloat16 run is measured against the bfloat16 matmul rate.
        if parse_variant(variant)[2] == "mixed_bfloat16":
            ceiling_of = report["matmul_gflops"]["bfloat16 2048^3"]
        else:
            ceiling_of = ceiling
        result["fraction_of_ceiling"] = result["gflops"] / ceiling_of
        result["ceiling_words_per_second"] = (ceiling_of * 1e9
                                              / flops_per_word(config))
        result["peak_rss_mb"] = peak_rss_mb()
        report["training"][f"{name} {variant}"] = result
        print(f"train {name} {variant}: {result['words_per_second']:.0f} words/s, "
              f"{result['ms_per_step']:.1f} ms/step, {result['gflops']:.0f} "
              f"GFLOP/s = {100 * result['fraction_of_ceiling']:.0f}% of the "
              f"ceiling ({result['ceiling_words_per_second']:.0f} words/s)",
              flush=True)

    small = PRESETS["small"]
    report["test_config_epoch_seconds"] = {}
    for variant in FLAGS.variants:
        seconds = epoch_time(corpus, PRESETS["test"], variant)
        report["test_config_epoch_seconds"][variant] = seconds
        print(f"test config {variant}, one full epoch: {seconds:.1f} s",
              flush=True)
    report["exact_test_seconds_small"] = exact_test_seconds(corpus, small)
    print(f"exact test evaluation (small, batch 1, 82,429 predictions): "
          f"{report['exact_test_seconds_small']:.1f} s", flush=True)
    report["serving_small"] = serving_latency(tf, corpus, small)
    print("SavedModel (small): step at batch 1 p50 "
          f"{report['serving_small']['step_p50_ms']:.2f} ms, p99 "
          f"{report['serving_small']['step_p99_ms']:.2f} ms; score 64 x 35 words "
          f"{report['serving_small']['score_64x35_ms']:.1f} ms", flush=True)
    report["pipeline_words_per_second"] = pipeline_rate(corpus, small)
    print(f"tf.data pipeline alone: "
          f"{report['pipeline_words_per_second']:.0f} words/s", flush=True)
    report["checkpoint_seconds_small"] = checkpoint_seconds(tf, small)
    fastest = max(((result["words_per_second"], key) for key, result
                   in report["training"].items() if key.startswith("small ")),
                  default=None)
    if fastest:
        costs = side_costs(report["pipeline_words_per_second"],
                           report["checkpoint_seconds_small"], corpus,
                           fastest[0])
        report["side_costs_small"] = dict(costs, variant=fastest[1])
        print(f"side costs of a small epoch ({fastest[1]}, "
              f"{costs['epoch_seconds']:.0f} s): tf.data "
              f"{100 * costs['pipeline_fraction']:.2f}%, one checkpoint "
              f"{100 * costs['checkpoint_fraction']:.2f}%", flush=True)
    report["peak_rss_mb"] = peak_rss_mb()
    if FLAGS.output:
        atomic_write_text(FLAGS.output, json.dumps(report, indent=2) + "\n")


def run() -> None:
    define_flags()
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
