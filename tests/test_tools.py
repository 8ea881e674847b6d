"""tools/: the long-run launcher, the progress file of a long run, the
validation-curve picture, the performance tables and score's memory on one
long line."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT


sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import performance_tables  # pylint: disable=wrong-import-position
import run_progress  # pylint: disable=wrong-import-position

LOG = """\
=== part started 2026-12-01T10:00:00Z on vm/abc commit 1111111 cpu: AMD EPYC
Epoch: 1 Learning rate: 1.000
0.500 perplexity: 900.0 speed: 2500 wps (saved ckpt-1)
1.000 perplexity: 363.7 speed: 2600 wps (saved ckpt-2)
Epoch: 1 Train Perplexity: 363.759
Epoch: 1 Valid Perplexity: 210.621
Epoch: 2 Learning rate: 1.000
0.100 perplexity: 200.0 speed: 2000 wps (saved ckpt-3)
=== part started 2026-12-02T09:00:00Z on vm/def commit 1111111 cpu: Other CPU
Epoch: 2 Learning rate: 0.800
0.200 perplexity: 180.0 speed: 3000 wps (saved ckpt-4)
Epoch: 2 Train Perplexity: 177.616
Epoch: 2 Valid Perplexity: 154.642
Test Perplexity: 150.123 (exact, batch 1)
"""


def test_progress_reads_parts_and_epochs():
    parts, epochs, test = run_progress.parse(LOG.splitlines())
    assert [part["host"] for part in parts] == ["vm/abc", "vm/def"]
    assert parts[1]["cpu"] == "Other CPU"
    assert epochs[1] == {"lr": 1.0, "train": 363.759, "valid": 210.621,
                         "wps": 2600, "part": 1}
    # Epoch 2 began in part 1 and finished in part 2, at part 2's speed.
    assert epochs[2]["part"] == 2 and epochs[2]["wps"] == 3000
    assert epochs[2]["lr"] == 0.8 and test == 150.123


def test_progress_and_curve_commands(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG)
    progress = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "run_progress.py"),
         str(log)], capture_output=True, text=True, check=True).stdout
    assert "Epochs finished: 2; test perplexity 150.123" in progress
    assert "| 2 | 0.8 | 177.616 | 154.642 | 3000 | 2 |" in progress
    results = tmp_path / "small.json"
    results.write_text(json.dumps({"epochs": [
        {"epoch": 1, "valid_perplexity": 180.0},
        {"epoch": 2, "valid_perplexity": 140.0}]}))
    picture = tmp_path / "curves.png"
    subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "plot_curves.py"),
         f"--output={picture}", f"small={results}", f"medium={log}"],
        capture_output=True, check=True)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _rate(median, spread=0.04):
    return {"median": median, "min": median * 0.98, "max": median * 1.02,
            "spread": spread, "trials": 7, "noisy": spread > 0.1}


def test_performance_tables_show_every_figure_of_the_run():
    serving = {"step_p50_ms": 0.81, "step_p99_ms": 1.5}
    for key, median in [("score 64x35", 23456.0), ("generate batch 1", 2100.0)]:
        serving[key] = dict(_rate(median, 0.2), bound_words_per_second=2 * median,
                            fraction_of_bound=0.5)
    report = {
        "command": "python -m ptb_tf.benchmark --data_path=/home/me/ptb --configs=small",
        "matmul_gflops": {"float32 2048^3": _rate(201.0),
                          "bfloat16 2048^3": _rate(402.0)},
        "plain_matmul_gflops": {"float32 2048^3": _rate(199.0),
                                "bfloat16 2048^3": _rate(398.0)},
        "softmax_passes_per_second": {
            "float32 medium log-softmax forward": _rate(400.0),
            "bfloat16 medium log-softmax forward": _rate(500.0, 0.3)},
        "training": {"medium unrolled+bf16": {
            "words_per_second": 3210.0, "fraction_of_bound": 0.87,
            "bound_words_per_second": 3690.0, "fraction_of_ceiling": 0.61,
            "ceiling_words_per_second": 5262.0, "ms_per_step": 218.1,
            "parts_ms": {"softmax layer": {"ms": 80.2, "bound_ms": 70.5},
                         "recurrence": {"ms": 120.3, "bound_ms": 110.6}},
            "parts_batch_ms": 218.4, "rest_ms": 17.9,
            "paired_rounds": {"median": 0.86, "min": 0.84, "max": 0.88}},
            "small unrolled+bf16": {
            "words_per_second": 10885.0, "fraction_of_bound": 0.79,
            "bound_words_per_second": 13733.0, "fraction_of_ceiling": 0.44,
            "ceiling_words_per_second": 24603.0, "ms_per_step": 36.7,
            "bound_contradicted": True,
            "paired_rounds": {"median": 0.81, "min": 0.75, "max": 1.04}}},
        "serving_small": serving,
        "test_config_epoch_seconds": {"unrolled+xla": 11.7},
        "test_config_epoch_pass_seconds": {"unrolled+xla": 6.61},
        "exact_test_seconds_small": 12.1, "pipeline_words_per_second": 2.3e7,
        "exact_test": {"predictions": 10000, "words_per_second": {
            "medium unrolled+bf16": {"median": 2100.4, "min": 1532.0, "max": 2190.0}}},
        "checkpoint_seconds_small": 0.053}
    side = {"command": "python benchmarks/pytorch_side_by_side.py --torch_python="
                       "/opt/torch/bin/python --pytorch_example=/src/ex --rounds=5",
            "torch": "2.13.0",
            "configs": {"small": {"words_per_second": {
                "pytorch example": 5000.0, "unrolled+bf16": 10500.0},
                "ratio": 2.1, "best_variant": "unrolled+bf16"}}}
    text = performance_tables.tables(report, side)
    for expected in ["201 (197-205, spread 4%)", "| medium | `unrolled+bf16` | 3,210 "
                     "| 87% of 3,690 | 61% of 5,262 | 86% (84-88%) |",
                     "of its bound, paired rounds: median (min-max) |",
                     "(BOUND TOO LOW: a figure beat it) | 44% of 24,603 | "
                     "81% (75-104%; a round beat its bound) |",
                     # the batch timed beside its parts, not the training figure's 218.1
                     "| 218.4 ms | 80.2 ms (70.5 ms) | 120.3 ms (110.6 ms) | 17.9 ms |",
                     "softmax layer (its matmuls and passes)",
                     "| 79% of 13,733 (BOUND TOO LOW: a figure beat it) |",
                     "| medium log-softmax forward | 2.50 (4%) | 2.00 (30%, NOISY) |",
                     "23,456", "NOISY",
                     "50% of 46,912", "p50 0.81 ms",
                     "`unrolled+xla` 11.7 s, its log-softmax passes alone 6.6 s",
                     "12.1 s", "23.0 M words/s", "53 ms", "**2.10x**",
                     "first 10,000 predictions (words/s, median (min-max)) | "
                     "medium `unrolled+bf16` 2,100 (1,532-2,190) |",
                     "torch 2.13.0",
                     # The machine's folders as the docs name them.
                     "Command: `python -m ptb_tf.benchmark --data_path=$PTB "
                     "--configs=small`",
                     "--torch_python=$TORCH_PYTHON --pytorch_example=$EXAMPLE "
                     "--rounds=5` (torch 2.13.0)"]:
        assert expected in text, expected


def fake_pin(folder):
    """A pinned copy whose python writes its arguments where it was run
    (and answers `-m ptb_tf.hardware` with a CPU line)."""
    (folder / "venv" / "bin").mkdir(parents=True)
    python = folder / "venv" / "bin" / "python"
    python.write_text('#!/bin/sh\n'
                      'if [ "$2" = ptb_tf.hardware ]; then echo "Fake CPU"; exit 0; fi\n'
                      'echo "python $*${TF_USE_LEGACY_KERAS:+ (TF_USE_LEGACY_KERAS=$TF_USE_LEGACY_KERAS)}"\n')
    python.chmod(0o755)
    subprocess.run(["git", "init", "--quiet", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c",
                    "user.email=t@t", "commit", "--quiet", "--allow-empty",
                    "-m", "pin"], check=True)


def long_run(home, *arguments):
    return subprocess.run(
        ["bash", os.path.join(REPO_ROOT, "tools", "long_run.sh"), *arguments],
        env=dict(os.environ, HOME=str(home)), capture_output=True, text=True)


def test_long_run_logs_a_part_header_then_trains_from_the_pin(tmp_path):
    fake_pin(tmp_path / "pin")
    result = long_run(tmp_path, str(tmp_path / "pin"), "demo", "--model=test")
    assert result.returncode == 0, result.stderr
    header, command = (tmp_path / "ptb_runs" / "demo.log").read_text().splitlines()
    assert header.startswith("=== part started ") and header.endswith(" cpu: Fake CPU")
    # The host names this boot of this machine: replaced machines kept the
    # machine id.
    boot_id = open("/proc/sys/kernel/random/boot_id", encoding="ascii").read()
    host = run_progress.parse([header])[0][0]["host"]
    assert host.endswith(f"/boot-{boot_id[:8]}")
    runs = tmp_path / "ptb_runs"
    assert command == (f"python -m ptb_tf.train --save_path={runs}/demo "
                       f"--results_file={runs}/demo.json --progress=lines --model=test")


def test_long_run_runs_the_tutorials_own_graph_from_the_pin(tmp_path):
    fake_pin(tmp_path / "pin")
    result = long_run(tmp_path, str(tmp_path / "pin"), "tf1", "--tf1_reference",
                      "--model=medium")
    assert result.returncode == 0, result.stderr
    header, command = (tmp_path / "ptb_runs" / "tf1.log").read_text().splitlines()
    assert header.startswith("=== part started ")
    runs = tmp_path / "ptb_runs"
    assert command == (f"python {tmp_path / 'pin'}/tools/tf1_reference.py "
                       f"--save_path={runs}/tf1 --results_file={runs}/tf1.json "
                       "--model=medium (TF_USE_LEGACY_KERAS=1)")


def test_long_run_takes_a_commit_for_its_pinned_copy(tmp_path):
    # A copy of HEAD that is already made (a machine that kept it) is used
    # as it is: nothing is cloned or installed again.
    head = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    fake_pin(tmp_path / "ptb_pinned" / head)
    result = long_run(tmp_path, "HEAD", "demo")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ptb_runs" / "demo.log").read_text().splitlines()[1].startswith(
        "python -m ptb_tf.train")


def test_long_run_refuses_what_is_neither_a_folder_nor_a_commit(tmp_path):
    result = long_run(tmp_path, "no-such-pin", "demo")
    assert result.returncode == 2
    assert "no-such-pin is neither a folder nor a commit" in result.stderr
    assert not (tmp_path / "ptb_runs").exists()


def _log_probability(corpus_line):
    return float(re.search(r"log-probability (\S+),", corpus_line).group(1))


@pytest.mark.slow
def test_score_memory_scores_one_long_line_as_its_sentences(trained, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the dog sat on the mat\na cat saw the log\nzebra\n")
    results = tmp_path / "memory.json"
    subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "score_memory.py"),
         f"--saved_model={trained['export_dir']}", f"--text={text}",
         "--sizes_mb=0.0002,0.0004", f"--results_file={results}"],
        capture_output=True, text=True, check=True)
    report = json.loads(results.read_text())
    assert "--results_file=" in report["command"]
    small, large = report["one_line"]
    assert small["megabytes"] < large["megabytes"]
    assert large["sentences"] == report["as_lines"]["sentences"] > 3
    # The same sentences, as one line or as lines: the same log-probability
    # (score carries the state across lines), whatever the line's length.
    assert _log_probability(large["corpus"]) == pytest.approx(
        _log_probability(report["as_lines"]["corpus"]), rel=1e-5)
    assert all(row["peak_rss_mb"] > 50 for row in (small, large, report["as_lines"]))
