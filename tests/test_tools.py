"""tools/: the progress file of a long run and the validation-curve picture."""

import json
import os
import subprocess
import sys

from tests.helpers import REPO_ROOT


sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
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
