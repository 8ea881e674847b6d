"""notebooks/ptb_tf.ipynb runs top to bottom headless (a test-config run on
PTB), and its committed copy holds the outputs of a real run."""

import base64
import os

from nbclient import NotebookClient
import nbformat
import pytest
from tests.helpers import REPO_ROOT


NOTEBOOK = os.path.join(REPO_ROOT, "notebooks", "ptb_tf.ipynb")


def parameters_cell(notebook):
    cells = [cell for cell in notebook.cells
             if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0]


def outputs(cell, kind):
    """The text or PNG outputs of a cell."""
    found = []
    for output in cell.get("outputs", []):
        if kind == "text" and output.get("output_type") == "stream":
            found.append(output["text"])
        if kind == "png" and "image/png" in output.get("data", {}):
            found.append(base64.b64decode(output["data"]["image/png"]))
    return found


@pytest.mark.slow
def test_notebook_runs_headless(ptb_path, tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters_cell(notebook).source = "\n".join([
        f"DATA_PATH = {ptb_path!r}",
        'MODEL = "test"',
        "OVERRIDES = {}",
        "RNN_MODE = \"auto\"",
        f"RUN_DIR = {str(tmp_path / 'run')!r}",
        f"EXPORT_DIR = {str(tmp_path / 'export')!r}",
        "FRESH_START = True",
        'REPO_URL = ""',
    ])
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join("".join(outputs(cell, "text")) for cell in notebook.cells)
    assert "test perplexity" in text and "exported" in text
    assert "rnn_mode=unrolled on a CPU" in text  # chosen from the hardware
    pictures = [png for cell in notebook.cells for png in outputs(cell, "png")]
    assert len(pictures) == 1 and pictures[0].startswith(b"\x89PNG")
    # The scores: the shuffled sentence is less likely than the real one.
    score_lines = [line for line in text.splitlines()
                   if line.strip().endswith(("profit rose", "said company"))]
    real, shuffled = (float(line.split()[0]) for line in score_lines)
    assert real < shuffled
    assert (tmp_path / "export" / "1" / "saved_model.pb").exists()


def test_committed_copy_has_the_outputs_of_a_real_run():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert "parameters" in parameters_cell(notebook).metadata["tags"]
    text = "".join("".join(outputs(cell, "text")) for cell in notebook.cells)
    assert "test perplexity" in text and "Epoch: 1 Valid Perplexity" in text
    pictures = [png for cell in notebook.cells for png in outputs(cell, "png")]
    assert pictures, "run the notebook and commit it with its outputs"
    # Outputs as a user would see them anywhere: no paths of the machine
    # that ran it, no TensorFlow start-up or CUDA-probing lines.
    for noise in ("/work/", "/home/", "pytest-of", "I0000", "W0000", "E0000",
                  "cuInit", "cuda_"):
        assert noise not in text, noise
    # Nothing the package should hold: no function or class defined here.
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert "def " not in cell.source and "class " not in cell.source
