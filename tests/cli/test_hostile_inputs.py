"""What a hostile but honest user can hand the commands: one table, one test.

Each row sets up files under a fresh folder, runs a command on them, and
expects one line `error: ...` holding a fragment, the exit code (1: a file or
folder, 2: a flag value), no traceback, and every file in the folder as it
was: a refused command writes nothing. A new case is one row.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from tests.helpers import (REPO_ROOT, TINY_FLAGS, TINY_TRAIN, copy_golden_run,
                           fill_disk, golden_flags, mount_small_disk,
                           run_module, write_corpus)


@pytest.fixture(scope="module")
def golden_export(tmp_path_factory):
    """An export of the golden run (written in this process, once)."""
    from ptb_tf.serving import saved_model  # pylint: disable=import-outside-toplevel
    root = tmp_path_factory.mktemp("golden_export")
    run = copy_golden_run(root)
    return saved_model.export(run, str(root / "export"), next_words=3)


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as target:
        target.write(content if isinstance(content, bytes) else content.encode())


# -- Setups: each takes the row's folder and returns the names its command
# -- line uses ({run}, {data}, {export}, ...).

def a_run_with(name, content):
    def setup(root, export):
        del export
        run = copy_golden_run(root)
        write(os.path.join(run, name), content)
        return {"run": run, "data": write_corpus(os.path.join(root, "data"))}
    return setup


def a_foreign_checkpoint_folder(root, export):
    """What another program's tf.train.Checkpoint leaves."""
    del export
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    folder = os.path.join(root, "theirs")
    tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)),
                               folder, 3).save()
    return {"run": folder, "data": write_corpus(os.path.join(root, "data"))}


def a_run_another_training_holds(root, export):
    """A run folder whose lock a live process holds, as a training would."""
    names = a_run_with("results.json", "{}")(root, export)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from ptb_tf import run_lock; "
         "run_lock.acquire(sys.argv[1]); print('held', flush=True); "
         "sys.stdin.read()", names["run"]], cwd=REPO_ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == "held\n"
    return dict(names, cleanup=lambda: holder.communicate(timeout=60))


def an_empty_folder(root, export):
    del export
    os.makedirs(os.path.join(root, "run"))
    return {"run": os.path.join(root, "run"),
            "data": write_corpus(os.path.join(root, "data"))}


def on_a_full_disk(setup, free_pages=0):
    """setup's files on a small disk of their own (a tmpfs), then the disk
    filled but for free_pages pages: a real "No space left on device" from
    Python's and TensorFlow's own file code alike."""
    def full(root, export):
        disk = os.path.join(root, "disk")
        unmount = mount_small_disk(disk)
        names = setup(disk, export)
        fill_disk(disk, free_pages)
        return dict(names, cleanup=unmount)
    return full


def a_folder_with_other_files(root, export):
    del export
    write(os.path.join(root, "mine", "thesis.tex"), "\\documentclass{book}")
    return {"run": os.path.join(root, "mine"),
            "data": write_corpus(os.path.join(root, "data"))}


def a_file(root, export):
    del export
    write(os.path.join(root, "a_file"), "text")
    return {"file": os.path.join(root, "a_file"),
            "data": write_corpus(os.path.join(root, "data"))}


def zipped(tweak):
    """A .zip of the tiny training text, then tweak(bytes) -> bytes."""
    def setup(root, export):
        del export
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("train.txt", TINY_TRAIN * 4)
        path = os.path.join(root, "text.zip")
        write(path, tweak(buffer.getvalue()))
        return {"text": path}
    return setup


def _flip_a_data_byte(archive):
    # A byte of the compressed data, past the 30-byte local header and name.
    at = 30 + len("train.txt") + 20
    return archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1:]


def _encrypted(archive):
    # The "encrypted" flag bit, in the local and the central header.
    central = archive.rfind(b"PK\x01\x02")
    data = bytearray(archive)
    data[6] |= 1
    data[central + 8] |= 1
    return bytes(data)


def _unknown_compression(archive):
    central = archive.rfind(b"PK\x01\x02")
    data = bytearray(archive)
    data[8] = data[central + 10] = 99  # no such method
    return bytes(data)


def _two_members(archive):
    del archive
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as two:
        two.writestr("a.txt", "a b\n")
        two.writestr("b.txt", "c d\n")
    return buffer.getvalue()


def a_text(name, content):
    def setup(root, export):
        del export
        path = os.path.join(root, name)
        write(path, content)
        return {"text": path}
    return setup


def a_broken_gzip(root, export):
    del export
    compressed = gzip.compress((TINY_TRAIN * 4).encode())
    path = os.path.join(root, "text.txt.gz")
    write(path, compressed[:20] + b"\x00" * 40 + compressed[60:])
    return {"text": path}


def an_export_with(name, content):
    def setup(root, export):
        copy = os.path.join(root, "export")
        shutil.copytree(export, copy)
        write(os.path.join(copy, name), content)
        return {"export": copy, "lines": _lines(root)}
    return setup


def _lines(root, content="the cat sat\n"):
    path = os.path.join(root, "lines.txt")
    write(path, content)
    return path


def scoring_input(content):
    def setup(root, export):
        return {"export": export, "lines": _lines(root, content)}
    return setup


def a_run_with_no_intact_checkpoint(root, export):
    del export
    run = copy_golden_run(root)
    for folder in (run, os.path.join(run, "best")):
        for name in os.listdir(folder):
            if name.endswith(".index"):
                write(os.path.join(folder, name), b"")
    return {"run": run}


TRAIN = TINY_FLAGS
# The golden run's own hyper-parameters: a command with them passes the
# config check and reaches the file under test.
GOLDEN = golden_flags()

CASES = {
    # The run folder.
    "junk config.json": (a_run_with("config.json", "{not json"), "train",
                         ["--data_path={data}", "--save_path={run}", *TRAIN],
                         1, "config.json cannot be read"),
    "config.json of unknown options": (
        a_run_with("config.json", json.dumps({"hidden_size": 4, "colour": 1})),
        "train", ["--data_path={data}", "--save_path={run}", *TRAIN], 1,
        "config.json cannot be read"),
    "junk identity.json": (a_run_with("identity.json", "[1, 2]"), "train",
                           ["--data_path={data}", "--save_path={run}", *GOLDEN],
                           1, "identity.json cannot be read"),
    "vocab.txt not UTF-8": (a_run_with("vocab.txt", b"caf\xe9\n"), "train",
                            ["--data_path={data}", "--save_path={run}", *GOLDEN],
                            1, "vocab.txt cannot be read"),
    "another program's checkpoints": (
        a_foreign_checkpoint_folder, "train",
        ["--data_path={data}", "--save_path={run}", *TRAIN], 1,
        "holds TensorFlow checkpoints but no config.json"),
    "a second training on a held folder": (
        a_run_another_training_holds, "train",
        ["--data_path={data}", "--save_path={run}", *GOLDEN], 1,
        "is in use by another training (pid "),
    "a folder of other files": (
        a_folder_with_other_files, "train",
        ["--data_path={data}", "--save_path={run}", *TRAIN], 1,
        "holds files ptb_tf did not write (thesis.tex)"),
    "--save_path a file": (a_file, "train",
                           ["--data_path={data}", "--save_path={file}", *TRAIN],
                           1, "is a file, not a folder"),
    "--results_file a folder": (
        a_run_with("config.json", "{}"), "train",
        ["--data_path={data}", "--results_file={data}", *TRAIN], 1,
        "is a folder; name a file"),
    "soak's --results_file a folder": (
        a_file, "soak", ["--data_path={data}", "--results_file={data}"], 1,
        "is a folder; name a file"),
    # Data files.
    "a damaged .gz": (a_broken_gzip, "train", ["--text_file={text}", *TRAIN],
                      1, "cannot read"),
    "a damaged .zip member": (zipped(_flip_a_data_byte), "train",
                                     ["--text_file={text}", *TRAIN], 1,
                                     "cannot read"),
    "an encrypted .zip": (zipped(_encrypted), "train",
                          ["--text_file={text}", *TRAIN], 1, "is encrypted"),
    "a .zip of an unknown compression": (
        zipped(_unknown_compression), "train", ["--text_file={text}", *TRAIN],
        1, "cannot read"),
    "a .zip of two files": (zipped(_two_members), "train",
                            ["--text_file={text}", *TRAIN], 1, "holds 2 files"),
    "a binary file": (a_text("text.bin", b"\x00\x01\x02" * 100), "train",
                      ["--text_file={text}", *TRAIN], 1, "looks binary"),
    "not UTF-8": (a_text("text.txt", b"caf\xe9 au lait\n" * 50), "train",
                  ["--text_file={text}", *TRAIN], 1, "is not UTF-8"),
    # Flags that passed validation and failed later.
    "--keep_prob=1e-17": (a_file, "train", ["--data_path={data}", *TRAIN,
                                            "--keep_prob=1e-17"], 2,
                          "rounds to 1"),
    "--seed=-1": (a_file, "train", ["--data_path={data}", *TRAIN, "--seed=-1"],
                  2, "--seed must be a whole number from 0"),
    "--max_grad_norm=inf": (a_file, "train", ["--data_path={data}", *TRAIN,
                                              "--max_grad_norm=inf"], 2,
                            "--max_grad_norm must be a finite number"),
    # Export and the tools that read a model.
    "export of a junk config.json": (a_run_with("config.json", "]"), "export",
                                     ["--save_path={run}", "--export_dir={run}/x"],
                                     1, "config.json cannot be read"),
    "export of another program's checkpoints": (
        a_foreign_checkpoint_folder, "export",
        ["--save_path={run}", "--export_dir={run}/x"], 1,
        "holds no trained model (config.json is missing)"),
    "export with no intact checkpoint": (
        a_run_with_no_intact_checkpoint, "export",
        ["--save_path={run}", "--export_dir={run}/x"], 1,
        "no checkpoint there can be read"),
    "export into a file": (a_run_with("results.json", "{}"), "export",
                           ["--save_path={run}",
                            "--export_dir={data}/ptb.train.txt"], 1,
                           "is a file; choose a folder"),
    "export into an unwritable place": (
        a_run_with("results.json", "{}"), "export",
        ["--save_path={run}", "--export_dir={data}/ptb.train.txt/x"], 1,
        "is not a writable folder"),
    "export of another vocabulary": (
        a_run_with("vocab.txt", "<unk>\n<eos>\nthe\n"), "export",
        ["--save_path={run}", "--export_dir={run}/x"], 1,
        "was made with another vocabulary"),
    "generate from a truncated saved_model.pb": (
        an_export_with("saved_model.pb", b"\x08\x01garbage"), "generate",
        ["--saved_model={export}", "--prefix=the"], 1, "it is damaged"),
    "generate from damaged variables": (
        an_export_with("variables/variables.data-00000-of-00001", b""),
        "generate", ["--saved_model={export}", "--prefix=the"], 1,
        "it is damaged"),
    "score with junk metadata": (
        an_export_with("assets.extra/ptb_tf.json", "{oops"), "score",
        ["--saved_model={export}", "--input={lines}"], 1, "cannot be read"),
    "score of a line that is not UTF-8": (
        scoring_input(b"fine\ncaf\xe9\n"), "score",
        ["--saved_model={export}", "--input={lines}"], 1,
        "line 2 of --input="),
    "score of a folder": (scoring_input("x\n"), "score",
                          ["--saved_model={export}", "--input={export}"], 1,
                          "not found"),
    # A full disk (one page left: enough for the lock's few bytes only).
    "a full disk at start-up": (
        on_a_full_disk(an_empty_folder, free_pages=1), "train",
        ["--data_path={data}", "--save_path={run}", *TRAIN], 1,
        "cannot write into --save_path="),
    "a full disk for the lock": (
        on_a_full_disk(an_empty_folder), "train",
        ["--data_path={data}", "--save_path={run}", *TRAIN], 1,
        "cannot write into --save_path="),
    "a full disk for a rerun's summaries": (
        on_a_full_disk(a_run_with(".ptb_tf.lock", ""), free_pages=1), "train",
        ["--data_path={data}", "--save_path={run}", *GOLDEN], 1,
        "cannot write TensorBoard summaries in"),
    "an export onto a full disk": (
        on_a_full_disk(a_run_with(".ptb_tf.lock", "")), "export",
        ["--save_path={run}", "--export_dir={data}/../export"], 1,
        "No space left on device; free space or choose another --export_dir"),
    "download into a file": (a_file, "data", ["download", "--data_path={file}"], 1,
                             "is a file"),
}


def snapshot(root):
    """Every file and folder under root, with a digest of each file; an
    empty run lock (ptb_tf's own, left by a training that ended) does not
    count."""
    found = {}
    for folder, names, files in os.walk(root):
        for name in names:
            found[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in files:
            path = os.path.join(folder, name)
            if name == ".ptb_tf.lock" and not os.path.getsize(path):
                continue
            with open(path, "rb") as content:
                found[os.path.relpath(path, root)] = hashlib.sha256(
                    content.read()).hexdigest()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_input_is_one_line_and_changes_nothing(case, tmp_path,
                                                         golden_export):
    setup, module, args, code, fragment = CASES[case]
    names = setup(str(tmp_path), golden_export)
    before = snapshot(tmp_path)
    try:
        result = run_module(module, *[arg.format(**names) for arg in args])
        after = snapshot(tmp_path)
    finally:
        if "cleanup" in names:  # a process or a disk the row's setup started
            names["cleanup"]()
    assert result.returncode == code, (result.stdout[-500:], result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and fragment in last, result.stderr
    assert after == before
