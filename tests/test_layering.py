"""Layering: what a command needs before TensorFlow starts imports none (so
that every user error is one line before its start-up lines), no library
module imports a command, and no module imports itself through others."""

import ast
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

PACKAGE = os.path.join(REPO_ROOT, "ptb_tf")

# The top-level modules that are `python -m ptb_tf.X` commands, and the
# command plumbing they share.
COMMANDS = {"train", "export", "generate", "score", "embeddings", "ngram",
            "data", "benchmark", "sampled_benchmark", "soak",
            "serving_benchmark"}
PLUMBING = {"cli"}

# The basics and the library modules a command reads before TensorFlow.
NO_TENSORFLOW = [
    "config", "options", "errors", "files", "run_dir", "run_lock", "cluster",
    "hardware",
    "cli",
    "corpus.text", "corpus.vocab", "corpus.splits", "corpus.layout",
    "corpus.ptb", "model.kneser_ney", "serving.limits", "serving.export_layout",
    "serving.tflite_model", "serving.source", "serving.word_vectors",
    "serving.scoring",
    "serving.c_api_loader", *sorted(COMMANDS)]


def modules():
    """Dotted name (without "ptb_tf.") -> path of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__").removesuffix("__init__")
                      or "__init__"] = path
    return found


def imports_of(path, known):
    """The package modules a file imports anywhere (lazy imports included).

    `from ptb_tf.a import b` counts as importing ptb_tf.a.b if that is a
    module, else ptb_tf.a."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "ptb_tf" or node.module.startswith("ptb_tf.")):
            base = node.module.removeprefix("ptb_tf").lstrip(".")
            for alias in node.names:
                inner = f"{base}.{alias.name}".lstrip(".")
                found.add(inner if inner in known else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ptb_tf."):
                    found.add(alias.name.removeprefix("ptb_tf."))
    return found - {""}


GRAPH = {name: imports_of(path, modules()) for name, path in modules().items()}


def test_the_module_lists_here_name_real_modules():
    assert set(NO_TENSORFLOW) <= set(GRAPH)
    assert COMMANDS | PLUMBING <= set(GRAPH)


@pytest.mark.parametrize("module", NO_TENSORFLOW)
def test_module_imports_no_tensorflow(module):
    checked = subprocess.run(
        [sys.executable, "-c", f"import sys, ptb_tf.{module}; "
         "sys.exit('tensorflow' in sys.modules)"], capture_output=True,
        timeout=120, cwd=REPO_ROOT)
    assert checked.returncode == 0, (f"ptb_tf.{module} imports TensorFlow"
                                     + checked.stderr.decode()[-2000:])


def test_no_library_module_imports_a_command():
    library = [name for name in GRAPH if name not in COMMANDS | PLUMBING]
    offenders = {name: sorted(GRAPH[name] & (COMMANDS | PLUMBING))
                 for name in library if GRAPH[name] & (COMMANDS | PLUMBING)}
    assert not offenders


def test_no_command_imports_another_command():
    offenders = {name: sorted(GRAPH[name] & COMMANDS - {name})
                 for name in COMMANDS if GRAPH[name] & COMMANDS - {name}}
    assert not offenders


def test_no_import_cycle():
    """Depth-first over every import, lazy ones too."""
    def reachable(start):
        seen, stack = set(), [start]
        while stack:
            for target in GRAPH.get(stack.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen

    assert not [name for name in GRAPH if name in reachable(name)]
