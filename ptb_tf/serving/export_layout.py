"""TensorFlow Serving's folder layout: NAME/VERSION/, versions written whole.

Pure Python, so command-line tools check paths before TensorFlow starts.
"""

import json
import os
import shutil
import tempfile
from typing import Callable, List

from ptb_tf.errors import UserError, reason
from ptb_tf.files import readable_mode, write_json

SAVED_MODEL_FILE = "saved_model.pb"
# What a client needs to know to turn text into the model's tokens. In
# assets.extra/, which TensorFlow Serving leaves alone.
METADATA_FILE = os.path.join("assets.extra", "ptb_tf.json")


def versions(export_dir: str) -> List[int]:
    """The integer-named version folders in export_dir, ascending."""
    if not os.path.isdir(export_dir):
        return []
    return sorted(int(name) for name in os.listdir(export_dir)
                  if name.isdigit() and os.path.isdir(
                      os.path.join(export_dir, name)))


def check_export_dir(export_dir: str) -> None:
    """UserError now, not after the model is loaded, if export_dir is a file
    or cannot be created or written."""
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise UserError(f"--export_dir={export_dir} is a file; choose a folder")
    existing = export_dir
    while not os.path.exists(existing):  # the folder it would be made in
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write --export_dir={export_dir} ({existing} "
                        "is not a writable folder); choose another folder")


def write_version(export_dir: str, write: Callable[[str], None]) -> str:
    """Calls write(temp_folder), then renames the folder to the next version.

    TensorFlow Serving watches export_dir for integer-named folders, so it
    never sees a half-written version: the temporary folder's name starts with
    a dot, and a failure or interruption removes it. An existing version is
    never overwritten. Returns the new version's path.
    """
    check_export_dir(export_dir)
    created = not os.path.exists(export_dir)
    try:
        os.makedirs(export_dir, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create --export_dir={export_dir}: "
                        f"{error.strerror}; choose a writable folder") from None
    temp_dir = None
    try:
        temp_dir = tempfile.mkdtemp(prefix=".export-", dir=export_dir)
        write(temp_dir)
        _make_readable(temp_dir)
        version = (versions(export_dir) or [0])[-1] + 1
        final_dir = os.path.join(export_dir, str(version))
        # rename() refuses a non-empty target, so a version that appeared
        # meanwhile is not overwritten.
        os.rename(temp_dir, final_dir)
    except OSError as error:  # a full disk, say
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        if created:
            shutil.rmtree(export_dir, ignore_errors=True)
        raise UserError(f"cannot write a version into {export_dir}: "
                        f"{reason(error)}; free space or choose another "
                        "--export_dir (nothing was written)") from None
    except BaseException:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return final_dir


def _make_readable(folder: str) -> None:
    """Gives the folder and all below it the usual modes, so that a server
    running as another user can read them (temporary folders and copied
    files can be private)."""
    os.chmod(folder, readable_mode(directory=True))
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), readable_mode(directory=True))
        for name in files:
            os.chmod(os.path.join(root, name), readable_mode())


def resolve_version(path: str, model_file: str) -> str:
    """The version folder holding model_file: path itself, or the newest
    version of the NAME/VERSION/ layout at path; None if neither has it."""
    if os.path.isfile(os.path.join(path, model_file)):
        return path
    found = versions(path)
    if found and os.path.isfile(
            os.path.join(path, str(found[-1]), model_file)):
        return os.path.join(path, str(found[-1]))
    return None


def resolve_saved_model(path: str) -> str:
    """A SavedModel folder, or the newest version of NAME/VERSION/ layout."""
    folder = resolve_version(path, SAVED_MODEL_FILE)
    if folder is None:
        raise UserError(f"{path} is not a SavedModel (no {SAVED_MODEL_FILE} in "
                        "it or in a version folder below it); pass a folder "
                        "written by python -m ptb_tf.export")
    return folder


def write_metadata(folder: str, metadata: dict) -> None:
    """Writes metadata (e.g. {"level": "char"}) into a SavedModel folder."""
    path = os.path.join(folder, METADATA_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_json(path, metadata)


def read_metadata(saved_model: str) -> dict:
    """The metadata of a SavedModel folder ({} for an export without it)."""
    path = os.path.join(saved_model, METADATA_FILE)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as metadata_file:
            metadata = json.load(metadata_file)
        if not isinstance(metadata, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        raise UserError(f"{path} cannot be read ({reason(error)}): the export is "
                        "damaged; export the run again") from None
    return metadata
