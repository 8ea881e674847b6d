r"""What serving costs: memory of a request at the limits, TFLite size and
step latency. `python -m ptb_tf.serving_benchmark`.

    python -m ptb_tf.serving_benchmark --results_file=results/serving_benchmark.json
    python -m ptb_tf.serving_benchmark --save_path=~/ptb_runs/small --configs=small

For each config (its shapes, PTB's 10,000 words; the weights of --save_path
when given, else as initialised, which costs the same):

- memory: each signature called once at the export's limits (largest batch,
  longest sequences, most generated words) in a fresh process; the figure is
  how far that call raised the process's peak resident memory;
- TFLite: the float32 and int8 models' sizes, and the step's latency at
  batch 1 in LiteRT's interpreter (one thread), p50 and p99 over --steps
  steps after a warm-up.

Latency is a time: the report carries the load average of the machine, and
says when the machine was busy (another process on its cores), as the
figures then are floors.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import flags
import numpy as np

from ptb_tf import cli
from ptb_tf.config import PRESETS
from ptb_tf.errors import UsageError
from ptb_tf.files import write_json
from ptb_tf.serving import limits as serving_limits


FLAGS = flags.FLAGS

# One signature at the limits, in a fresh process: argv = export folder,
# signature, limits as JSON. Prints the rise of the peak RSS in MB.
_AT_THE_LIMIT = r"""
import json, resource, sys
import tensorflow as tf
path, name, limits = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sig = tf.saved_model.load(path).signatures[name]
B, T, N = (limits["max_batch_size"], limits["max_sequence_length"],
           limits["max_num_words"])
state_shape = sig.structured_input_signature[1].get("state")

def call(batch, length, words):
    state = (tf.zeros([state_shape.shape[0], state_shape.shape[1], batch,
                       state_shape.shape[3]]) if state_shape is not None
             else None)
    text = tf.fill([batch, length], "the")
    if name in ("score", "serving_default"):
        return sig(words=text)
    if name == "score_from_state":
        return sig(words=text, state=state)
    if name == "step":
        return sig(words=tf.fill([batch], "the"), state=state)
    if name == "step_ids":
        return sig(ids=tf.zeros([batch], tf.int32), state=state)
    if name in ("zero_state", "start_state"):
        return sig(batch_size=tf.constant(batch))
    if name == "ids_to_words":
        return sig(ids=tf.zeros([batch, length], tf.int32))
    return sig(prefix=text, num_words=tf.constant(words),
               temperature=tf.constant(1.0), top_k=tf.constant(0),
               seed=tf.constant(1, tf.int64))

call(1, 1, 1)  # traces and warms up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
call(B, T, N)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps((after - before) / 1024))
"""

SIGNATURES = ("serving_default", "score", "score_from_state", "step",
              "step_ids", "ids_to_words", "zero_state", "start_state",
              "generate")


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_list("configs", ["small", "medium"],
                      "Configs whose shapes are measured.",
                      flag_values=flag_values)
    flags.DEFINE_string("save_path", None,
                        "A training run whose weights to use (one config).",
                        flag_values=flag_values)
    flags.DEFINE_integer("steps", 2000, "TFLite steps timed per model.",
                         flag_values=flag_values)
    flags.DEFINE_string("results_file", None, "JSON file for the report.",
                        flag_values=flag_values)
    # Train's name for its results JSON, now every command's.
    cli.define_old_name("output", "results_file", flag_values)


def _model(config_name: str, save_path):
    """A PTBModel and a vocabulary file for the config (or the run)."""
    from ptb_tf.serving.source import ModelSource  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.models import build_model  # pylint: disable=g-import-not-at-top
    if save_path:
        source = ModelSource(save_path=save_path)
        return source.load_model(), source.vocab_path
    config = PRESETS[config_name]
    model = build_model(config)
    vocab_path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as vocab_file:
        vocab_file.write("".join(f"w{i}\n" for i in range(config.vocab_size - 2))
                         + "<unk>\n<eos>\n")
    return model, vocab_path


def _memory(folder: str, limits) -> dict:
    """Signature -> MB its call at the limits added to the peak RSS."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    costs = {}
    for name in SIGNATURES:
        child = subprocess.run(
            [sys.executable, "-c", _AT_THE_LIMIT, folder, name,
             json.dumps(limits.to_dict())],
            capture_output=True, text=True, env=env, timeout=1800, check=False)
        if child.returncode:
            raise RuntimeError(f"{name} at the limits failed: "
                               f"{child.stderr[-2000:]}")
        costs[name] = round(json.loads(child.stdout.splitlines()[-1]), 1)
        print(f"  {name:17s} {costs[name]:8.1f} MB", flush=True)
    return costs


def _latency(path: str, steps: int) -> dict:
    """p50/p99 ms of one batch-1 step in LiteRT's interpreter."""
    from ptb_tf.serving.tflite_model import TFLiteModel  # pylint: disable=g-import-not-at-top
    model = TFLiteModel(path)
    state = model.start_state(1)
    ids = np.array([model.eos_id], np.int32)
    times = []
    for index in range(steps + 100):
        start = time.perf_counter()
        log_probs, state = model.step(ids, state)
        if index >= 100:  # warm-up
            times.append((time.perf_counter() - start) * 1000)
        ids = np.argmax(log_probs, axis=1).astype(np.int32)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3),
            "p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
            "steps": steps}


def measure(config_name: str, save_path, steps: int) -> dict:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from ptb_tf.serving.module import ServingModule  # pylint: disable=g-import-not-at-top
    from ptb_tf.serving import tflite_export  # pylint: disable=g-import-not-at-top
    model, vocab_path = _model(config_name, save_path)
    limits = serving_limits.DEFAULT
    module = ServingModule(model, vocab_path, limits=limits)
    report = {"config": config_name, "weights": save_path or "initialised",
              "limits": limits.to_dict()}
    with tempfile.TemporaryDirectory() as root:
        folder = os.path.join(root, "saved_model")
        tf.saved_model.save(module, folder, signatures=module.signatures())
        print(f"{config_name}: extra peak memory of one request at the limits",
              flush=True)
        report["memory_mb_at_limits"] = _memory(folder, limits)
        report["tflite"] = {}
        for kind, quantize in (("float32", False), ("int8", True)):
            path = tflite_export.export_module(
                module, vocab_path, os.path.join(root, kind), quantize)
            size = os.path.getsize(os.path.join(path, tflite_export.MODEL_FILE))
            entry = {"bytes": size, **_latency(path, steps)}
            report["tflite"][kind] = entry
            print(f"  TFLite {kind:7s} {entry['bytes'] / 1e6:6.2f} MB, step "
                  f"p50 {entry['p50_ms']:.3f} ms, p99 {entry['p99_ms']:.3f} ms",
                  flush=True)
    return report


def main(argv):
    cli.check_no_arguments(argv)
    for name in FLAGS.configs:
        if name not in PRESETS:
            raise UsageError(f"--configs: unknown config {name}; choose from "
                             f"{', '.join(PRESETS)}")
    if FLAGS.save_path and len(FLAGS.configs) != 1:
        raise UsageError("--save_path measures one run: pass the one config "
                         "it was trained with in --configs")
    cli.check_min(FLAGS, 100, "steps")
    cli.quiet_tensorflow()
    from ptb_tf.training.results import machine_info  # pylint: disable=g-import-not-at-top
    load_before = os.getloadavg()
    results = [measure(name, FLAGS.save_path, FLAGS.steps)
               for name in FLAGS.configs]
    load = {"before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()]}
    # This process keeps one core busy; more than that is someone else.
    busy = max(load["before"][0], load["after"][0]) > 1.5
    if busy:
        print(f"The machine was busy (load average {load}): the latencies "
              "are floors, not this machine's figures.")
    report = {"command": " ".join(sys.argv), "machine": machine_info(),
              "load_average": load, "machine_busy": busy, "results": results}
    if FLAGS.results_file:
        write_json(FLAGS.results_file, report)


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
