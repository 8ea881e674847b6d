"""benchmarks/pytorch_side_by_side.py: the example's flags and how its log is
read (the timings themselves are not tested)."""

import os
import sys

import pytest
from tests.helpers import REPO_ROOT, load_benchmark

from ptb_tf.config import PRESETS
from ptb_tf.errors import UserError

side_by_side = load_benchmark("pytorch_side_by_side")


def test_the_example_gets_the_configs_sizes_dropout_and_window():
    flags = side_by_side.example_flags(PRESETS["medium"], "data", "m.pt", 50)
    given = dict(zip(flags[::2], flags[1::2]))
    assert given == {"--data": "data", "--model": "LSTM", "--emsize": "650",
                     "--nhid": "650", "--nlayers": "2", "--dropout": "0.5",
                     "--bptt": "35", "--batch_size": "20", "--epochs": "1",
                     "--log-interval": "50", "--save": "m.pt"}
    small = dict(zip(*[iter(side_by_side.example_flags(
        PRESETS["small"], "d", "s.pt", 10))] * 2))
    assert small["--dropout"] == "0.0" and small["--bptt"] == "20"


def _printer(ms_values, then_sleep=True):
    """A stand-in for the example: prints its progress lines, then waits."""
    lines = "".join(
        f"print('| epoch   1 | {50 * (i + 1):5d}/ 1327 batches | lr 20.00 | "
        f"ms/batch {ms:5.2f} | loss  6.00 | ppl   403.43', flush=True);"
        for i, ms in enumerate(ms_values))
    return [sys.executable, "-c",
            lines + ("import time; time.sleep(60)" if then_sleep else "")]


def test_the_first_line_is_dropped_and_the_median_of_the_rest_taken():
    config = PRESETS["small"]  # 20 x 20 = 400 words a batch
    rate = side_by_side.example_words_per_second(
        _printer([900.0, 40.0, 50.0, 45.0, 10.0]), config, lines=3)
    assert rate == pytest.approx(400 / 0.045)


def test_an_example_that_stops_early_is_one_clear_error():
    with pytest.raises(UserError, match="stopped before it printed"):
        side_by_side.example_words_per_second(
            _printer([900.0, 40.0], then_sleep=False), PRESETS["small"], 3)


@pytest.mark.parametrize("flags,message", [
    ([], "--pytorch_example must name the word_language_model folder"),
    (["--pytorch_example={example}", "--torch_python=false"],
     "false cannot import torch"),
])
def test_a_missing_example_or_torch_is_one_line(tmp_path, flags, message):
    import subprocess  # pylint: disable=import-outside-toplevel
    example = tmp_path / "word_language_model"
    example.mkdir()
    (example / "main.py").write_text("")
    data = tmp_path / "data"
    data.mkdir()
    result = subprocess.run(
        [sys.executable, os.path.join("benchmarks", "pytorch_side_by_side.py"),
         f"--data_path={data}", *[flag.format(example=example) for flag in flags]],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines


def test_a_path_faster_than_its_rounds_bound_is_named():
    rates = {"pytorch example": 6000.0, "unrolled+bf16": 11000.0,
             "unrolled+xla": 9000.0}
    bounds = {"unrolled+bf16": 14000.0, "unrolled+xla": 8500.0}
    assert side_by_side.beaten_bounds(rates, bounds) == ["unrolled+xla"]
    bounds["unrolled+xla"] = 9500.0
    assert side_by_side.beaten_bounds(rates, bounds) == []
