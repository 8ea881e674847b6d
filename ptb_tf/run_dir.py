"""The run folder (--save_path): prepared, checked and loaded in one place.

A run folder holds the checkpoints of one model (ptb_tf.training.checkpoints)
plus `config.json`, `vocab.txt` and `identity.json`. A run's identity is what
makes two trainings the same run: its config, and hashes of its vocabulary
and of its data; it is recorded in identity.json and in every checkpoint.
Resuming with another config, vocabulary or data would silently train a
different model on top of the old weights, so it is refused, with a message
that says which differs. No TensorFlow import: the train command checks the
folder before it starts.
"""

import hashlib
import json
import os
import re
from typing import Any, Dict, List

import numpy as np

from ptb_tf import run_lock
from ptb_tf.config import Config
from ptb_tf.corpus.splits import SPLITS
from ptb_tf.corpus.vocab import Vocabulary
from ptb_tf.errors import UserError, reason
from ptb_tf.files import atomic_write_text


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vocab_hash(vocab) -> str:
    return _sha256("\n".join(vocab.words).encode("utf-8"))


def identity_of(config, vocab, corpus=None) -> Dict[str, Any]:
    """{"config": {...}, "vocab_sha256": ..., "data_sha256": {split: ...}}.

    With a corpus, also its level ("word" or "char") and the hashes of the
    token ids of each split; an export knows no data and leaves them out.
    """
    identity = {"config": config.to_dict(), "vocab_sha256": vocab_hash(vocab)}
    if corpus is not None:
        identity["level"] = corpus.level
        identity["data_sha256"] = {
            split: _sha256(np.asarray(getattr(corpus, split), np.int32).tobytes())
            for split in SPLITS}
    return identity


def differences(saved: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """What differs, e.g. ["config (max_max_epoch 2 -> 3)", "vocabulary"]."""
    found = []
    changes = [f"{name} {value} -> {current['config'].get(name)}"
               for name, value in saved["config"].items()
               if current["config"].get(name) != value]
    if changes:
        found.append(f"config ({', '.join(changes)})")
    if saved["vocab_sha256"] != current["vocab_sha256"]:
        found.append("vocabulary")
    if "level" in current and saved.get("level", "word") != current["level"]:
        found.append(f"level ({saved.get('level', 'word')} -> "
                     f"{current['level']})")
    if "data_sha256" in saved and "data_sha256" in current:
        changed = [split for split in SPLITS
                   if saved["data_sha256"].get(split)
                   != current["data_sha256"].get(split)]
        if changed:
            found.append(f"data ({', '.join(changed)} split"
                         f"{'s' if len(changed) > 1 else ''})")
    return found


CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
IDENTITY_FILE = "identity.json"


# What ptb_tf writes into a run folder (and TensorFlow's temporary files
# while it writes a checkpoint or its index): a folder holding anything else
# is not a ptb_tf run, and is refused rather than written into.
_OWN_NAMES = {CONFIG_FILE, VOCAB_FILE, IDENTITY_FILE, run_lock.LOCK_FILE,
              "checkpoint", "results.json", "best", "logs"}
_OWN_PATTERN = re.compile(
    r"ckpt-\d+(\.index|\.data-\d+-of-\d+|_temp.*)|checkpoint\.tmp.*"
    r"|\.(config|identity|results)\.json\..*\.tmp|\.vocab\.txt\..*\.tmp")


def check(save_path: str, config: Config, corpus) -> Dict[str, Any]:
    """prepare's checks alone, read-only: UserError if save_path is a file,
    holds files ptb_tf does not write or a run with another config,
    vocabulary or data (a folder not there yet passes). Returns the run's
    identity. What a multi-worker run's other workers do: the chief alone
    writes the folder (ptb_tf.cluster)."""
    if os.path.exists(save_path) and not os.path.isdir(save_path):
        raise UserError(f"--save_path={save_path} is a file, not a folder; "
                        "choose a folder")
    current = identity_of(config, corpus.vocab, corpus)
    if os.path.isdir(save_path):
        # Read-only, before the lock file is written: a refused folder is
        # left exactly as it was.
        _check_ours(save_path)
        _check_same_run(save_path, config, corpus.vocab, current)
    return current


def prepare(save_path: str, config: Config, corpus) -> None:
    """Creates save_path, or checks that the run already there matches.

    Raises UserError if save_path cannot be written, if it holds files ptb_tf
    does not write, if another training holds it (ptb_tf.run_lock: this
    process then holds it until it exits), or if it holds a run with another
    config, vocabulary or data. A folder that is refused is not written
    into; nothing already in save_path is overwritten.
    """
    vocab = corpus.vocab
    current = check(save_path, config, corpus)
    try:
        os.makedirs(save_path, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create --save_path={save_path}: "
                        f"{error.strerror}; choose a writable folder") from None
    if not os.access(save_path, os.W_OK | os.X_OK):
        raise UserError(f"--save_path={save_path} is not writable; "
                        "choose a writable folder")
    # Then again under the lock: another training may have been writing
    # them until now.
    run_lock.acquire(save_path)
    _check_same_run(save_path, config, vocab, current)
    vocab_path = os.path.join(save_path, VOCAB_FILE)
    config_path = os.path.join(save_path, CONFIG_FILE)
    identity_path = os.path.join(save_path, IDENTITY_FILE)
    try:
        if not os.path.exists(vocab_path):
            vocab.save(vocab_path)
        if not os.path.exists(config_path):
            atomic_write_text(config_path, config.to_json())
        if not os.path.exists(identity_path):
            atomic_write_text(identity_path, json.dumps(
                current, indent=2, sort_keys=True) + "\n")
    except OSError as error:  # a full disk, say; no half-written file stays
        raise UserError(f"cannot write into --save_path={save_path}: "
                        f"{reason(error)}; free space or choose another "
                        "--save_path") from None


def _check_ours(save_path: str) -> None:
    """UserError unless the folder is empty or holds only what ptb_tf writes,
    its config.json beside any checkpoint."""
    names = os.listdir(save_path)
    foreign = sorted(name for name in names if name not in _OWN_NAMES
                     and not _OWN_PATTERN.fullmatch(name))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UserError(f"--save_path={save_path} holds files ptb_tf did not "
                        f"write ({shown}): it is not a ptb_tf run; choose an "
                        "empty or new folder")
    if CONFIG_FILE not in names and any(
            name == "checkpoint" or name.startswith("ckpt-") for name in names):
        raise UserError(f"--save_path={save_path} holds TensorFlow "
                        f"checkpoints but no {CONFIG_FILE}: not a ptb_tf run "
                        "(or one that lost its config); choose an empty or "
                        "new folder")


def _check_same_run(save_path: str, config: Config, vocab, current) -> None:
    """UserError if the run in save_path has another config, vocabulary or
    data, or if one of its files cannot be read."""
    if os.path.exists(os.path.join(save_path, CONFIG_FILE)):
        saved = read_config(save_path).to_dict()
        changed = [f"{name} {saved.get(name)} -> {value}"
                   for name, value in config.to_dict().items()
                   if saved.get(name) != value]
        if changed:
            raise UserError(
                f"--save_path={save_path} holds a model with another config "
                f"({', '.join(changed)}); use a new --save_path or the "
                "same hyper-parameters")
    vocab_path = os.path.join(save_path, VOCAB_FILE)
    if os.path.exists(vocab_path) and _read(save_path, VOCAB_FILE,
                                             Vocabulary.load) != vocab:
        raise UserError(
            f"--save_path={save_path} holds a model with another "
            "vocabulary; use a new --save_path or the same training file")
    if os.path.exists(os.path.join(save_path, IDENTITY_FILE)):
        found = differences(read_identity(save_path), current)
        if found:
            raise UserError(
                f"--save_path={save_path} holds a model trained on other "
                f"{' and '.join(found)}; use a new --save_path or the same "
                "--data_path")


def _read(save_path: str, name: str, parse):
    """parse(path) of one of the run's files; UserError if it cannot be read
    (damaged, not UTF-8, or written by something else)."""
    path = os.path.join(save_path, name)
    try:
        return parse(path)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise UserError(f"--save_path={save_path}: {name} cannot be read "
                        f"({reason(error)}): damaged, or not written by "
                        "ptb_tf; choose another folder, or restore the "
                        "file") from None


def _json(path: str):
    with open(path, encoding="utf-8") as json_file:
        return json.load(json_file)


def read_config(save_path: str) -> Config:
    """The run's config.json; UserError if it cannot be read. Through Config:
    options added since the run was saved take their defaults, which that
    run used."""
    return _read(save_path, CONFIG_FILE,
                 lambda path: Config.from_dict(_json(path)))


def read_identity(save_path: str) -> Dict[str, Any]:
    """The run's identity.json (see identity_of); UserError if it cannot be
    read."""
    def parse(path):
        value = _json(path)
        if not isinstance(value, dict) or not isinstance(
                value.get("config"), dict) or "vocab_sha256" not in value:
            raise ValueError("no config and vocabulary hash in it")
        return value
    return _read(save_path, IDENTITY_FILE, parse)


def load_run(save_path: str):
    """The config and vocab.txt path of a trained run in save_path.

    Returns (Config, vocab_path). Raises UserError if save_path holds no
    trained model.
    """
    if not os.path.isdir(save_path):
        raise UserError(f"--save_path={save_path} not found; pass the folder "
                        "given to python -m ptb_tf.train")
    for name in (CONFIG_FILE, VOCAB_FILE):
        if not os.path.exists(os.path.join(save_path, name)):
            raise UserError(f"--save_path={save_path} holds no trained model "
                            f"({name} is missing); train one there first with "
                            "python -m ptb_tf.train")
    # The `checkpoint` index file, or (with it lost) a checkpoint's files.
    if not any(name == "checkpoint" or re.fullmatch(r"ckpt-\d+\.index", name)
               for name in os.listdir(save_path)):
        raise UserError(f"--save_path={save_path} holds no trained model (no "
                        "checkpoint); train one there first with python -m "
                        "ptb_tf.train")
    config = read_config(save_path)
    vocab_path = os.path.join(save_path, VOCAB_FILE)
    _read(save_path, VOCAB_FILE, Vocabulary.load)
    return config, vocab_path


def run_level(save_path: str) -> str:
    """The level ("word" or "char") the run in save_path was trained at."""
    if not os.path.exists(os.path.join(save_path, IDENTITY_FILE)):
        return "word"
    return read_identity(save_path).get("level", "word")
