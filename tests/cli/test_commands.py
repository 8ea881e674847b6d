"""Every command explains itself: --helpshort lists the flags it needs, from
`python -m ptb_tf.X` and from its console script alike."""

import os
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from tests.helpers import REPO_ROOT, assert_user_error, run_module

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
    "data": ["--data_path", "--download_url", "--sha256"],
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


def test_a_preset_flagfile_is_found_outside_a_clone(tmp_path):
    """`--flagfile=flags/small.flags`, as the tutorial's users write it, from a
    folder that has no flags/: the packaged preset is read (the run then
    stops at the missing data, not at the flagfile)."""
    result = subprocess.run(
        [sys.executable, "-m", "ptb_tf.train", "--flagfile=flags/small.flags",
         "--data_path=nowhere", "--max_max_epoch=1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert_user_error(result, "nowhere")
    assert not os.path.exists(tmp_path / "flags")


def test_with_presets_resolves_only_a_missing_file_to_a_preset(tmp_path,
                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)  # no flags/ here
    from ptb_tf.cli import PRESETS_DIR, with_presets  # pylint: disable=import-outside-toplevel
    mine = tmp_path / "small.flags"
    mine.write_text("--num_layers=3\n")
    small = os.path.join(PRESETS_DIR, "small.flags")
    assert with_presets(["x", "--flagfile=flags/small.flags", "--flagfile",
                         "medium.flags", f"--flagfile={mine}",
                         "--flagfile=flags/nothing.flags"]) == [
        "x", f"--flagfile={small}", "--flagfile",
        os.path.join(PRESETS_DIR, "medium.flags"), f"--flagfile={mine}",
        "--flagfile=flags/nothing.flags"]


@pytest.mark.slow
def test_the_wheel_holds_the_package_presets_scripts_and_license(tmp_path):
    """What `pip install .` installs, from pyproject.toml alone."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), REPO_ROOT], check=True, timeout=600,
                   capture_output=True)
    [wheel] = [name for name in os.listdir(tmp_path) if name.endswith(".whl")]
    with zipfile.ZipFile(tmp_path / wheel) as archive:
        names = archive.namelist()
        [entry_points] = [name for name in names
                          if name.endswith("entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert {"ptb_tf/__init__.py", "ptb_tf/training/run.py",
            "ptb_tf/presets/small.flags", "ptb_tf/presets/ptb_char.flags"} <= set(names)
    assert any(name.endswith("licenses/LICENSE") or name.endswith("/LICENSE")
               for name in names), names
    assert not any(name.startswith("tests/") for name in names)
    for command in NEEDED:
        assert f"ptb-{command.replace('_', '-')} = ptb_tf.{command}:run" in scripts
