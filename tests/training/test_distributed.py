"""Data-parallel training: MirroredStrategy on two logical CPU devices, and
MultiWorkerMirroredStrategy with two processes on 127.0.0.1.

Each runs in a fresh process: logical devices and a multi-worker cluster must
be set up before TensorFlow starts."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import types

import pytest
from tests.helpers import (REPO_ROOT, nth_line_in_epoch, run_module,
                           run_python, start_module, tiny_config)

from ptb_tf.errors import UserError
from ptb_tf.training import checkpoints

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
from local_workers import free_ports  # pylint: disable=wrong-import-position,import-error


MIRRORED_CHECK = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from ptb_tf.corpus.splits import load_corpus
    from ptb_tf.training.distributed import DistributedTrainer, make_strategy
    from ptb_tf.corpus.datasets import chunk_dataset
    from ptb_tf.training.trainer import Trainer
    from ptb_tf.training.models import build_model
    from tests.helpers import tiny_config

    corpus = load_corpus(sys.argv[1])
    precision, tolerance = sys.argv[2], float(sys.argv[3])
    # Clipping active: the global norm of the first steps is far above 0.05.
    config = tiny_config(corpus, max_grad_norm=0.05, batch_size=4)
    single = Trainer(build_model(config, "keras", precision), config)
    initial = single.model.get_weights()
    strategy = make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = build_model(config, "keras", precision)
    model.set_weights(single.model.get_weights())
    mirrored = DistributedTrainer(model, config, strategy)
    inputs, targets, count = next(iter(chunk_dataset(
        corpus.train, config.batch_size, config.num_steps, 3)))
    state = single.model.zero_state(config.batch_size)
    results = [trainer.train_steps(inputs, targets, tf.constant(3), state)
               for trainer in (single, mirrored)]
    (ran_a, cost_a, state_a, _, norm_a), (ran_b, cost_b, state_b, _, norm_b) = results
    assert int(ran_a) == int(ran_b) == 3
    assert norm_a / 3 > 10 * config.max_grad_norm, float(norm_a)
    np.testing.assert_allclose(float(cost_b), float(cost_a), rtol=tolerance)
    np.testing.assert_allclose(float(norm_b), float(norm_a), rtol=tolerance)
    np.testing.assert_allclose(state_b, state_a, atol=tolerance)
    for got, want in zip(model.get_weights(), single.model.get_weights()):
        np.testing.assert_allclose(got, want, atol=tolerance)
    # The steps did move the weights.
    assert max(np.abs(w - v).max()
               for w, v in zip(model.get_weights(), initial)) > 1e-3

    # Against the same steps done on one device the way the replicas split
    # them (each half batch's gradient of the scaled cost, their mean,
    # unscaled, clipped, applied): equal to 1e-5 in every precision, so what
    # the tolerance above allows is the half type's rounding, not the
    # strategy's machinery (loss scale, all-reduce, clipping, state).
    reference = Trainer(build_model(config, "keras", precision), config)
    reference.model.set_weights(initial)
    variables = reference.model.trainable_variables
    # The scale the replicas' first steps used: the optimizer's initial one.
    scale = (float(reference.optimizer.dynamic_scale) if reference.loss_scaled
             else 1.0)
    rows = config.batch_size // 2
    split_state, split_norm = state, 0.0
    for index in range(3):
        gradients, states = [], []
        for part in range(2):
            cut = slice(part * rows, (part + 1) * rows)
            with tf.GradientTape() as tape:
                cost, part_state = reference.training_cost(
                    inputs[index][cut], targets[index][cut],
                    split_state[:, :, cut])
                scaled = cost * scale
            gradients.append(tape.gradient(scaled, variables))
            states.append(part_state)
        # The norm of one device's gradient of the whole batch: the
        # embedding's rows once per occurrence (both halves' slices).
        whole = [tf.IndexedSlices(tf.concat([a.values, b.values], 0) / 2,
                                  tf.concat([a.indices, b.indices], 0),
                                  a.dense_shape)
                 if isinstance(a, tf.IndexedSlices) else (a + b) / 2
                 for a, b in zip(*gradients)]
        norm = tf.linalg.global_norm(whole) / scale
        clipped, _ = tf.clip_by_global_norm(
            [tf.convert_to_tensor(gradient) / scale for gradient in whole],
            config.max_grad_norm, use_norm=norm)
        for variable, gradient in zip(variables, clipped):
            variable.assign_sub(config.learning_rate * gradient)
        split_state = tf.concat(states, axis=2)
        split_norm += float(norm)
    np.testing.assert_allclose(split_norm, float(norm_b), rtol=1e-5)
    np.testing.assert_allclose(split_state, state_b, atol=1e-5)
    for got, want in zip(model.get_weights(), reference.model.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-5)
    print("OK", float(cost_a), float(norm_a) / 3)
""")


MEAN_AND_NORM_CHECK = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from ptb_tf.training.distributed import make_strategy, mean_and_norm

    strategy = make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    # Replica r's gradients: a dense [3] one and an embedding's slices with
    # row 1 three times (a word the batch repeats).
    dense = [tf.constant([1.0, 2.0, 3.0]), tf.constant([3.0, 0.0, -1.0])]
    values = [tf.constant([[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]]),
              tf.constant([[0.5, 0.5], [1.0, -1.0], [3.0, 3.0]])]
    indices = [tf.constant([1, 0, 1]), tf.constant([1, 1, 2])]

    def replica():
        r = tf.distribute.get_replica_context().replica_id_in_sync_group
        pick = lambda pair: tf.where(tf.equal(r, 0), pair[0], pair[1])
        return mean_and_norm(tf.distribute.get_replica_context(), [
            pick(dense), tf.IndexedSlices(pick(values), pick(indices),
                                          tf.constant([4, 2]))])

    (mean_dense, mean_embedding), norm = strategy.run(replica)
    local = strategy.experimental_local_results
    one_device = tf.linalg.global_norm([
        (dense[0] + dense[1]) / 2,
        tf.IndexedSlices(tf.concat(values, 0) / 2, tf.concat(indices, 0),
                         tf.constant([4, 2]))])
    for replica_norm in local(norm):
        np.testing.assert_allclose(float(replica_norm), float(one_device),
                                   rtol=1e-6)
    summed = np.zeros([4, 2])
    for v, i in zip(values, indices):
        np.add.at(summed, i.numpy(), v.numpy() / 2)
    for got in local(mean_embedding):
        np.testing.assert_allclose(got, summed)
    for got in local(mean_dense):
        np.testing.assert_allclose(got, [2.0, 1.0, 1.0])
    # The dense mean's norm alone is another number: the test can fail.
    dense_norm = float(tf.linalg.global_norm([mean_dense.values[0],
                                              mean_embedding.values[0]]))
    assert abs(dense_norm - float(one_device)) > 0.1, dense_norm
    print("OK")
""")


@pytest.mark.slow
def test_the_replicas_clip_by_the_norm_one_device_computes():
    # tf.linalg.global_norm over an embedding's slices counts a repeated word
    # once per occurrence; the replicas' all-reduced (dense) mean would sum
    # the repeats first.
    result = run_python("-c", MEAN_AND_NORM_CHECK)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("OK")


# In a half type, products summed over half the rows on each replica are
# rounded in another order than over all the rows on one device: float16
# (11 significant bits) 1e-3; bfloat16 (8 bits, and Keras's policy rounds
# gates and state too) 1e-2, a CI run having seen 1.03e-3; float32 1e-5.
# Against one device splitting the batch as the replicas do: 1e-5 in all.
@pytest.mark.slow
@pytest.mark.parametrize("precision,tolerance", [
    ("float32", 1e-5), ("mixed_bfloat16", 1e-2), ("mixed_float16", 1e-3)])
def test_mirrored_steps_equal_single_device_steps(tiny_corpus_path, precision,
                                                  tolerance):
    result = run_python("-c", MIRRORED_CHECK, tiny_corpus_path, precision,
                        str(tolerance))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("OK")


# The test config on the tiny corpus, small enough for seconds an epoch.
WORKER_FLAGS = ["--model=test", "--vocab_size=0", "--batch_size=4",
                "--num_steps=3", "--hidden_size=4", "--strategy=multi_worker",
                "--deterministic"]


class Cluster:
    """Two workers of one TF_CONFIG on 127.0.0.1, started with the same
    flags (and each its own --results_file) as often as a test needs."""

    def __init__(self, data, tmp_path, *flags):
        self.workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
        self.flags = [f"--data_path={data}", *WORKER_FLAGS, *flags]
        self.tmp_path = tmp_path
        # The workers' temporary folders: where the other worker writes its
        # copy of each checkpoint.
        self.temp = tmp_path / "tmp"
        self.temp.mkdir(parents=True)

    def start(self):
        processes = []
        for index in range(2):
            env = dict(os.environ, TMPDIR=str(self.temp), TF_CONFIG=json.dumps({
                "cluster": {"worker": self.workers},
                "task": {"type": "worker", "index": index}}))
            processes.append(start_module(
                "train", *self.flags, f"--results_file={self.results_file(index)}",
                env=env, stderr=subprocess.PIPE))
        return processes

    def results_file(self, index):
        return self.tmp_path / f"worker{index}.json"

    def run(self):
        """Starts both and waits: their results."""
        processes = self.start()
        outputs = [process.communicate(timeout=300) for process in processes]
        for process, (stdout, stderr) in zip(processes, outputs):
            assert process.returncode == 0, stderr[-3000:]
            assert "Test Perplexity:" in stdout
        return [json.loads(self.results_file(index).read_text())
                for index in range(2)], outputs


@pytest.mark.slow
def test_two_workers_from_the_local_launcher_train_and_agree(tiny_corpus_path,
                                                             tmp_path):
    """tools/local_workers.py, as docs/configs.md shows it."""
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "local_workers.py"),
         "--workers=2", "--", f"--data_path={tiny_corpus_path}",
         *[flag for flag in WORKER_FLAGS if flag != "--strategy=multi_worker"],
         f"--save_path={tmp_path / 'run'}",
         f"--results_file={tmp_path}/worker{{index}}.json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for index in range(2):
        assert f"[worker {index}] Test Perplexity:" in result.stdout
    results = [json.loads((tmp_path / f"worker{index}.json").read_text())
               for index in range(2)]
    assert results[0]["replicas"] == results[1]["replicas"] == 2
    # Same weights on both workers, bit for bit.
    assert results[0]["weights_sha256"] == results[1]["weights_sha256"]
    assert results[0]["test_perplexity"] == results[1]["test_perplexity"]
    assert results[0]["test_perplexity"] < len(open(
        os.path.join(tiny_corpus_path, "ptb.train.txt")).read().split())


def stop_both_after(processes, stop_at, sig):
    """Reads worker 0's lines until stop_at(line), then sends both `sig`;
    returns their (returncode, stderr)."""
    for line in processes[0].stdout:
        if stop_at(line):
            break
    else:
        pytest.fail("the run ended before the stop point")
    for process in processes:
        process.send_signal(sig)
    return [(process.wait(timeout=120), process.communicate()[1])
            for process in processes]


@pytest.mark.slow
def test_two_workers_stopped_twice_resume_to_the_uninterrupted_weights(
        tiny_corpus_path, tmp_path):
    """SIGTERM to both workers mid-epoch 2: each saves at the same step
    (TensorFlow's PreemptionCheckpointHandler) and exits; started again,
    then both SIGKILLed mid-epoch 3 and started again, they end with the
    uninterrupted two-worker run's weights, bit for bit. Only the chief
    wrote the run folder, and it exports."""
    whole, _ = Cluster(tiny_corpus_path, tmp_path / "whole", "--max_max_epoch=3",
                       f"--save_path={tmp_path / 'whole_run'}").run()
    save_path = tmp_path / "run"
    cluster = Cluster(tiny_corpus_path, tmp_path / "cut", "--max_max_epoch=3",
                      "--checkpoint_every=2", f"--save_path={save_path}")
    stopped = stop_both_after(cluster.start(),
                              nth_line_in_epoch(2, 2, "(saved ckpt-"),
                              signal.SIGTERM)
    for code, stderr in stopped:
        assert code == 143 and "Traceback" not in stderr, stderr[-3000:]
        last = stderr.strip().splitlines()[-1]
        saved = re.search(r"after saving (ckpt-\d+);", last)
        assert last.startswith("error: stopped by a preemption signal"), last
        assert saved, last
    assert checkpoints.newest_first(str(save_path))[0].endswith(saved.group(1))
    stop_both_after(cluster.start(), nth_line_in_epoch(3, 2, "(saved ckpt-"),
                    signal.SIGKILL)
    resumed, outputs = cluster.run()
    assert "Resuming from" in outputs[0][0] and "Resuming from" in outputs[1][0]
    for index in range(2):
        assert resumed[index]["weights_sha256"] == whole[0]["weights_sha256"]
        assert resumed[index]["test_perplexity"] == whole[0]["test_perplexity"]
    assert json.loads((save_path / "results.json").read_text())[
        "weights_sha256"] == whole[0]["weights_sha256"]
    # The other worker's copies went to a folder of its own, now gone.
    assert not [name for name in os.listdir(cluster.temp)
                if name.startswith("ptb_tf-worker-")]
    result = run_module("export", f"--save_path={save_path}",
                        f"--export_dir={tmp_path / 'export'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(tmp_path / "export") == ["1"]


@pytest.mark.slow
def test_a_lost_worker_stops_the_other_in_one_line_and_both_resume(
        tiny_corpus_path, tmp_path):
    save_path = tmp_path / "run"
    cluster = Cluster(tiny_corpus_path, tmp_path, "--max_max_epoch=400",
                      "--checkpoint_every=2", f"--save_path={save_path}")
    chief, other = cluster.start()
    for line in chief.stdout:
        if "(saved ckpt-" in line:
            break
    other.kill()
    other.communicate()
    killed = time.monotonic()
    _, stderr = chief.communicate(timeout=120)
    assert time.monotonic() - killed < 90
    assert chief.returncode == 1 and "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: lost worker 1 of the cluster"), last
    assert "start every worker again with the same command" in last
    # The same commands resume (seen in their first lines; then stopped).
    processes = cluster.start()
    for process in processes:
        line = process.stdout.readline()
        while line and not line.startswith("Resuming from"):
            line = process.stdout.readline()
        assert line.startswith(f"Resuming from {save_path}/ckpt-"), line
    for process in processes:
        process.kill()
        process.communicate()
    # And on one device: the checkpoint's state is the global batch's.
    alone = start_module(
        "train", *[flag for flag in cluster.flags if flag != "--strategy=multi_worker"])
    lines = [alone.stdout.readline() for _ in range(2)]
    alone.kill()
    alone.communicate()
    assert lines[0].startswith(f"Resuming from {save_path}/ckpt-"), lines
    assert " perplexity: " in lines[1] or "Learning rate" in lines[1], lines


@pytest.mark.slow
def test_mirrored_without_gpus_says_so(tiny_corpus_path):
    result = run_module("train", f"--data_path={tiny_corpus_path}",
                        "--model=test", "--vocab_size=0", "--batch_size=4",
                        "--num_gpus=2")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --num_gpus=2 but this machine has 0 GPU(s) TensorFlow can use")


def test_strategies_refuse_what_they_cannot_do(corpus, monkeypatch):
    """In this process: the refusals that come before any replica runs."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from ptb_tf.training.distributed import DistributedTrainer, make_strategy  # pylint: disable=import-outside-toplevel
    from ptb_tf.training.models import build_model  # pylint: disable=import-outside-toplevel
    assert make_strategy("default") is None
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="needs TF_CONFIG with a cluster"):
        make_strategy("multi_worker")
    if not tf.config.list_logical_devices("GPU"):
        with pytest.raises(UserError, match="needs GPUs"):
            make_strategy("mirrored")
    config = tiny_config(corpus, batch_size=3)
    two_replicas = types.SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(UserError, match="does not split into 2 replicas"):
        DistributedTrainer(build_model(config), config, two_replicas)
