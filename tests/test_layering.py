"""Layering: the modules a command needs before TensorFlow starts import no
TensorFlow (so that every user error is one line before its start-up lines)."""

import subprocess
import sys

import pytest

# What the commands import to check flags, paths and files.
NO_TENSORFLOW = ["cli", "config", "errors", "files", "save_dir", "identity",
                 "serving_limits", "versions", "tflite_model", "vocab",
                 "reader", "model_modes", "data", "ngram"]


@pytest.mark.parametrize("module", NO_TENSORFLOW)
def test_module_imports_no_tensorflow(module):
    checked = subprocess.run(
        [sys.executable, "-c", f"import sys, ptb_tf.{module}; "
         "sys.exit('tensorflow' in sys.modules)"], capture_output=True,
        timeout=120)
    assert checked.returncode == 0, f"ptb_tf.{module} imports TensorFlow"
