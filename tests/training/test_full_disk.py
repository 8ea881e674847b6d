"""A full disk outside the training loop: at start-up, for the summaries, a
checkpoint, the results and an export. Each is one line, the last good state
is kept, and no partial file stays behind to keep the disk full.

The same on a real full disk (a tmpfs, where the tests may mount one): the
start-up, the summaries and the export are rows of the hostile-input table
(tests/cli/test_hostile_inputs.py); a checkpoint is the last test here.
(A full disk during a checkpoint, mid-run, is in test_reliability.py.)
"""

import errno
import os

import pytest
import tensorflow as tf
from tests.helpers import (assert_last_line_error, copy_golden_run, fill_disk,
                           golden_flags, mount_small_disk, run_module,
                           run_until, tiny_config, train_tiny,
                           write_corpus)

from ptb_tf import files
from ptb_tf import run_dir
from ptb_tf.errors import UserError
from ptb_tf.serving import saved_model
from ptb_tf.training import checkpoints, results

FULL = "No space left on device"


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, FULL)


def tf_no_space(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, FULL)


def test_the_run_folder_files_at_start_up(corpus, tmp_path, monkeypatch):
    save_path = str(tmp_path / "run")
    monkeypatch.setattr(files.tempfile, "mkstemp", no_space)
    with pytest.raises(UserError, match=rf"cannot write into --save_path=.*: "
                                        rf"{FULL}; free space"):
        run_dir.prepare(save_path, tiny_config(corpus), corpus)
    assert set(os.listdir(save_path)) <= {".ptb_tf.lock"}


def test_the_summaries_of_a_rerun(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(tf.summary, "create_file_writer", tf_no_space)
    with pytest.raises(UserError, match=rf"cannot write TensorBoard summaries "
                                        rf"in .*logs: {FULL}"):
        train_tiny(tiny_config(corpus), corpus,
                   save_path=str(tmp_path / "run"), log=lambda _: None)


def test_a_checkpoint_leaves_no_partial_files(corpus, tmp_path, monkeypatch):
    save_path = str(tmp_path / "run")
    config = tiny_config(corpus)
    run_until(config, corpus, save_path, lambda line: "(saved" in line,
              checkpoint_every=3)
    kept = checkpoints.newest_first(save_path)
    before = sorted(os.listdir(save_path))

    def half_written(manager, *args, **kwargs):
        # What a write that ran out of room leaves: the next number's files,
        # half there, then the error.
        counter = manager._checkpoint.save_counter  # pylint: disable=protected-access
        counter.assign_add(1)
        number = int(counter)
        os.makedirs(os.path.join(manager.directory, f"ckpt-{number}_temp"))
        with open(os.path.join(manager.directory,
                               f"ckpt-{number}.data-00000-of-00001"),
                  "wb") as part:
            part.write(b"\0" * 100)
        tf_no_space()

    monkeypatch.setattr(tf.train.CheckpointManager, "save", half_written)
    with pytest.raises(UserError, match=rf"cannot write a checkpoint in .*: "
                                        rf"{FULL}; .*ckpt-\d+, is kept"):
        train_tiny(config, corpus, save_path=save_path,
                   log=lambda _: None, checkpoint_every=3)
    assert sorted(os.listdir(save_path)) == before
    assert checkpoints.newest_first(save_path) == kept


def test_the_results_file(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(results, "write_json", no_space)
    with pytest.raises(UserError, match=rf"cannot write the results to "
                                        rf".*results.json: {FULL}; .* the "
                                        "trained model is kept"):
        train_tiny(tiny_config(corpus, max_max_epoch=1), corpus,
                   save_path=str(tmp_path / "run"), log=lambda _: None)
    monkeypatch.undo()
    # The same call again tests the kept model and writes them.
    again = train_tiny(tiny_config(corpus, max_max_epoch=1), corpus,
                       save_path=str(tmp_path / "run"),
                       log=lambda _: None)
    assert os.path.exists(tmp_path / "run" / "results.json")
    assert len(again["epochs"]) == 1


def test_an_export_writes_nothing(trained, tmp_path, monkeypatch):
    export_dir = tmp_path / "export"
    monkeypatch.setattr(tf.saved_model, "save", tf_no_space)
    with pytest.raises(UserError, match=rf"cannot write a version into .*: "
                                        rf"{FULL}; .*\(nothing was written\)"):
        saved_model.export(trained["save_path"], str(export_dir))
    assert not os.path.exists(export_dir)  # it made the folder, and removed it


@pytest.mark.slow
def test_a_checkpoint_on_a_real_full_disk(tmp_path):
    """A rerun of the golden run with room for its lock and first summaries,
    not a checkpoint: the error is one line, the checkpoints and their index
    are as they were, and no part of the new one stays."""
    disk = str(tmp_path / "disk")
    unmount = mount_small_disk(disk)
    try:
        run = copy_golden_run(disk)
        data = write_corpus(os.path.join(disk, "data"))
        with open(os.path.join(run, "checkpoint"), encoding="utf-8") as index:
            before = (sorted(os.listdir(run)), index.read())
        fill_disk(disk, free_pages=3)
        result = run_module("train", f"--data_path={data}", f"--save_path={run}",
                            *golden_flags())
        with open(os.path.join(run, "checkpoint"), encoding="utf-8") as index:
            after = (sorted(set(os.listdir(run)) - {".ptb_tf.lock", "logs"}),
                     index.read())
    finally:
        unmount()
    assert_last_line_error(result, "cannot write a checkpoint in", FULL,
                           "ckpt-13, is kept")
    assert after == before
