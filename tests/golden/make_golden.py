r"""Writes the golden run folder and signature description (run once; kept).

    python tests/golden/make_golden.py

The files it writes are committed and must never be rewritten: they stand
for what users already have on disk. tiny_run/ is a run of the tiny test
corpus (tests/conftest.py) stopped in epoch 2 of 2, after its first checkpoint, written by the code
of the commit named in tiny_run/WRITTEN_BY; signatures.json describes every
signature of its export (names, inputs, outputs, dtypes, shapes).
test_golden.py checks that today's code still loads, resumes and exports
the run, and that the export still has those signatures.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from tests import conftest  # pylint: disable=wrong-import-position


def describe_signatures(path):
    """{signature: {"inputs": {name: [dtype, shape]}, "outputs": ...}}."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    described = {}
    for name, function in tf.saved_model.load(path).signatures.items():
        inputs = function.structured_input_signature[1]
        outputs = function.structured_outputs
        described[name] = {
            "inputs": {key: [spec.dtype.name, spec.shape.as_list()]
                       for key, spec in sorted(inputs.items())},
            "outputs": {key: [spec.dtype.name, spec.shape.as_list()]
                        for key, spec in sorted(outputs.items())}}
    return described


def main():
    from ptb_tf.serving import saved_model  # pylint: disable=import-outside-toplevel
    from ptb_tf.corpus.splits import load_corpus  # pylint: disable=import-outside-toplevel
    from ptb_tf import run_dir  # pylint: disable=import-outside-toplevel
    run = os.path.join(HERE, "tiny_run")
    if os.path.exists(run):
        sys.exit(f"{run} exists: golden files are never rewritten")
    with tempfile.TemporaryDirectory() as root:
        corpus = load_corpus(conftest.write_corpus(
            os.path.join(root, "data")))
        config = conftest.tiny_config(corpus, num_layers=1, hidden_size=4,
                                      max_max_epoch=2)
        save_path = os.path.join(root, "run")
        run_dir.prepare(save_path, config, corpus)
        # Stopped at epoch 2's first progress line, just after a checkpoint:
        # resuming it continues mid-epoch.
        conftest.run_until(config, corpus, save_path,
                           conftest.nth_line_in_epoch(2, 1, "saved"))
        shutil.rmtree(os.path.join(save_path, "logs"), ignore_errors=True)
        shutil.copytree(save_path, run)
        config, vocab_path = run_dir.load_run(run)
        exported = saved_model.export(run, os.path.join(root, "export"),
                                      next_words=3)
        with open(os.path.join(HERE, "signatures.json"), "w") as out:
            json.dump(describe_signatures(exported), out, indent=1,
                      sort_keys=True)
            out.write("\n")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()
    with open(os.path.join(run, "WRITTEN_BY"), "w") as out:
        out.write(f"{commit}\n")


if __name__ == "__main__":
    main()
