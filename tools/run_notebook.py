r"""Runs notebooks/ptb_tf.ipynb top to bottom with its own parameters and
saves it with its outputs: what the committed copy shows.

    python tools/run_notebook.py

The run starts afresh: the parameters cell's RUN_DIR and EXPORT_DIR are
deleted first (else the notebook would resume the last run and show that).
Standard-error streams (TensorFlow's C++ start-up and device-probing lines,
which TF_CPP_MIN_LOG_LEVEL does not silence in TensorFlow 2.21) are left out
of the saved copy; every other output is the run's own.
"""

import os
import shutil

from nbclient import NotebookClient
import nbformat

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "notebooks", "ptb_tf.ipynb")


def main():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = {}
    exec([cell.source for cell in notebook.cells  # pylint: disable=exec-used
          if "parameters" in cell.metadata.get("tags", [])][0], parameters)
    for folder in (parameters["RUN_DIR"], parameters["EXPORT_DIR"]):
        shutil.rmtree(folder, ignore_errors=True)
    NotebookClient(notebook, timeout=3600, kernel_name="python3",
                   resources={"metadata": {"path": "/tmp"}}).execute()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs
                            if output.get("name") != "stderr"]
            cell.metadata.pop("execution", None)
    nbformat.write(notebook, NOTEBOOK)


if __name__ == "__main__":
    main()
