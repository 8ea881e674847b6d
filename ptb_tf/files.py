"""Writing files so that a crash never leaves a half-written one behind."""

import json
import os
import tempfile


def readable_mode(directory: bool = False) -> int:
    """The mode a plain open() or mkdir() would give under the current umask.

    mkstemp and mkdtemp create private files (0600, 0700); a file that other
    processes, a TensorFlow Serving user say, must read needs the usual mode.
    """
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def atomic_write_text(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file and a rename.

    A reader sees either the old file or the complete new one, never a part.
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp_path = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp_file:
            temp_file.write(text)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.chmod(temp_path, readable_mode())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def write_json(path: str, value) -> None:
    """atomic_write_text of `value` as indented JSON."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")
