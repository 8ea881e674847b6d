"""The README's quick start, run as it is printed: the test config trained
on PTB (read from a local copy through the cache folder), exported, sampled
from and scored."""

import os
import re
import shlex
import subprocess
import sys

import pytest
from tests.helpers import REPO_ROOT


def quick_start_commands():
    """The command lines of the ```sh blocks between the quick-start marks."""
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    section = text.split("<!-- quick-start")[1].split("<!-- /quick-start -->")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines()
            if line.strip()]


def test_the_quick_start_has_the_four_steps():
    commands = quick_start_commands()
    assert [re.search(r"ptb_tf\.(\w+)", line).group(1) for line in commands] == [
        "train", "export", "generate", "score"]


def readme_train_commands():
    """Every `python -m ptb_tf.train` command in the README's ```sh blocks,
    continuation lines joined, as argument lists."""
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as readme:
        blocks = re.findall(r"```sh\n(.*?)```", readme.read(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines
            if line.startswith("python -m ptb_tf.train ")]


def test_every_train_command_in_the_readme_is_a_run_train_accepts():
    """The results' commands are copied by hand from the results files: each
    parses, names a valid config and options, and the table's rows keep
    their configs (a flag misspelt or dropped fails here, not hours into a
    user's run)."""
    from absl import flags  # pylint: disable=import-outside-toplevel
    from ptb_tf import train  # pylint: disable=import-outside-toplevel
    configs = {}
    for argv in readme_train_commands():
        flag_values = flags.FlagValues()
        train.define_flags(flag_values)
        flag_values(["train"] + argv[3:])
        config = train.config_from_flags(flag_values)
        options = train.options_from_flags(flag_values, say=lambda _: None)
        assert options.problem(config.cell, flag_values.save_path) is None, argv
        configs[flag_values.save_path] = (config, options)
    medium, large = configs["runs/medium"][0], configs["runs/large"][0]
    assert (medium.hidden_size, medium.keep_prob, medium.max_max_epoch) == (650, 0.5, 39)
    assert (large.hidden_size, large.keep_prob, large.max_max_epoch) == (1500, 0.35, 55)
    tied, tied_options = configs["runs/medium_tied"]
    assert tied.tie_embeddings and tied.max_epoch == 14
    assert tied_options.precision == "mixed_bfloat16"


@pytest.mark.slow
def test_the_quick_start_runs_as_printed(ptb_path, tmp_path):
    # `python` is this interpreter; the cache folder holds PTB already, so
    # the train command reads it instead of downloading it.
    # (A script, not a symlink: a virtualenv's python finds its packages
    # only when called by its own path.)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(os.path.abspath(ptb_path), cache / "ptb")
    env = dict(os.environ, PTB_TF_CACHE=str(cache),
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    outputs = []
    for command in quick_start_commands():
        result = subprocess.run(["bash", "-c", command], cwd=work, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (command, result.stderr[-3000:])
        outputs.append(result.stdout)
    train, export, generate, score = outputs
    assert "No data flag" not in train  # the local copy, not a download
    test = float(re.search(r"^Test Perplexity: ([\d.]+)", train,
                           flags=re.M).group(1))
    # A 2-unit model learns something (uniform guessing is 10,000), not much.
    assert 100 < test < 1000
    assert export.startswith("Exported the best checkpoint of runs/test")
    log_prob, text = generate.strip().split("\t")
    assert float(log_prob) < 0 and text.startswith("the company ")
    assert len(text.split()) == 10
    assert score.splitlines()[-1].startswith("Corpus: 5 tokens")


def test_nothing_a_user_reads_names_this_projects_own_data_folder():
    """README, docs, the notebook and the package (whose docstrings are the
    commands' help) never point at ../shared, a folder only this project's
    machines have."""
    paths = [os.path.join(REPO_ROOT, "README.md")]
    for folder in ("docs", "notebooks", "ptb_tf"):
        for root, _, names in os.walk(os.path.join(REPO_ROOT, folder)):
            paths += [os.path.join(root, name) for name in names
                      if name.endswith((".md", ".ipynb", ".py", ".flags"))]
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as text:
            if "../shared" in text.read():
                found.append(os.path.relpath(path, REPO_ROOT))
    assert not found


def test_the_readme_is_short_and_its_prose_lines_fit():
    """Under ~250 lines; no line over 100 characters outside code blocks
    and tables (a reader's terminal or editor pane)."""
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as readme:
        lines = readme.read().splitlines()
    assert len(lines) <= 250
    in_code, long_lines = False, []
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and not line.startswith("|") and len(line) > 100:
            long_lines.append(number)
    assert not long_lines


def test_the_colab_badges_and_the_notebook_install_name_one_repository():
    """pyproject.toml names the published repository once; the README's and
    the notebook's Open-in-Colab links open that repository's notebook, and
    the notebook installs ptb_tf from it."""
    def read(*parts):
        with open(os.path.join(REPO_ROOT, *parts), encoding="utf-8") as text:
            return text.read()

    repository = re.search(r'^Repository = "https://github\.com/([\w.-]+/[\w.-]+)"$',
                           read("pyproject.toml"), flags=re.M).group(1)
    colab = ("https://colab.research.google.com/github/"
             f"{repository}/blob/main/notebooks/ptb_tf.ipynb")
    notebook = read("notebooks", "ptb_tf.ipynb")
    for text in (read("README.md"), notebook):
        assert "colab-badge.svg" in text
        links = re.findall(r"https://colab\.research\.google\.com/github/[^)\s\"]+", text)
        assert links and set(links) == {colab}
    assert f'REPO_URL = \\"https://github.com/{repository}\\"' in notebook
