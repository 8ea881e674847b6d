"""Every command explains itself: --helpshort lists the flags it needs, from
`python -m ptb_tf.X` and from its console script alike."""

import os
import subprocess
import sysconfig

import pytest
from tests.helpers import run_module

# A few flags each command cannot be used without (or is mostly used with).
NEEDED = {
    "train": ["--data_path", "--save_path", "--model", "--rnn_mode",
              "--text_file", "--use_fp16"],
    "export": ["--save_path", "--export_dir", "--checkpoint", "--format"],
    "generate": ["--saved_model", "--save_path", "--tflite", "--prefix",
                 "--checkpoint"],
    "score": ["--saved_model", "--save_path", "--tflite", "--input"],
    "embeddings": ["--saved_model", "--save_path", "--neighbours"],
    "ngram": ["--data_path", "--text_file", "--order"],
    "data": ["--dest", "--url", "--sha256"],
    "benchmark": ["--data_path", "--configs", "--variants"],
    "sampled_benchmark": ["--epochs", "--num_sampled"],
    "soak": ["--data_path", "--epochs"],
    "serving_benchmark": ["--configs", "--save_path"],
}


def listed(help_text):
    return {line.split(":")[0].strip().replace("--[no]", "--")
            for line in help_text.splitlines() if line.startswith("  --")}


@pytest.mark.parametrize("command", sorted(NEEDED))
def test_helpshort_lists_the_flags_a_command_needs(command):
    result = run_module(command, "--helpshort")
    assert "Traceback" not in result.stderr, result.stderr  # absl exits 1
    assert set(NEEDED[command]) <= listed(result.stdout), result.stdout


@pytest.mark.parametrize("command", sorted(NEEDED))
def test_each_command_has_a_console_script(command):
    script = os.path.join(sysconfig.get_path("scripts"),
                          "ptb-" + command.replace("_", "-"))
    assert os.path.exists(script), f"{script}: pip install the package"
    result = subprocess.run([script, "--helpshort"], capture_output=True,
                            text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert set(NEEDED[command]) <= listed(result.stdout), result.stdout
