"""PTB itself: where it is cached, how it is fetched and checked.

Mikolov's `simple-examples.tgz` (34 MB) holds ptb.train.txt, ptb.valid.txt
and ptb.test.txt; `download` verifies each against the SHA-256 of PTB's
published files (or the archive against a digest given) before it moves
them into place, and never leaves a half-written file. The cache folder is
$PTB_TF_CACHE, else $XDG_CACHE_HOME/ptb_tf, else ~/.cache/ptb_tf (PTB in its
`ptb` folder). The command is `python -m ptb_tf.data download`.
"""

import hashlib
import http.client
import io
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from typing import Callable, Dict, Optional

from ptb_tf.errors import UserError


DEFAULT_URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"


# The three files as the tutorial read them (simple-examples.tgz, data/:
# the same bytes in every copy checked).
PTB_SHA256 = {
    "ptb.train.txt":
        "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt":
        "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt":
        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}


PTB_FILES = tuple(PTB_SHA256)


def cache_folder() -> str:
    """Where train looks for PTB when given no data flag."""
    root = (os.environ.get("PTB_TF_CACHE")
            or os.path.join(os.environ.get("XDG_CACHE_HOME")
                            or os.path.join(os.path.expanduser("~"), ".cache"),
                            "ptb_tf"))
    return os.path.join(root, "ptb")


def has_ptb(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name)) for name in PTB_FILES)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(url: str, destination, timeout: float = 60.0,
          progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Copies url's body into the open binary file `destination`.

    Returns the byte count; UserError if the transfer fails or stops short of
    its Content-Length.
    """
    received, expected = 0, -1
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected = int(response.headers.get("Content-Length") or -1)
            while True:
                block = response.read(1 << 16)
                if not block:
                    break
                destination.write(block)
                received += len(block)
                if progress:
                    progress(received, expected)
    except (urllib.error.URLError, http.client.HTTPException, OSError,
            ValueError) as error:
        # A cut connection shows as IncompleteRead (an HTTPException) or a
        # reset (OSError), or as a short body, checked below.
        reason = getattr(error, "reason", None) or type(error).__name__
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP Error {error.code}: {error.reason}"
        raise UserError(f"download of {url} failed after {received:,} bytes "
                        f"({reason}); check the URL and the connection, then "
                        "run again") from None
    if expected >= 0 and received != expected:
        raise UserError(f"download of {url} stopped after {received:,} of "
                        f"{expected:,} bytes; the connection was cut: run "
                        "again")
    return received


def ptb_members(archive: bytes) -> Dict[str, bytes]:
    """The three PTB files in a .tgz (any folder inside), by file name."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            found = {}
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if member.isfile() and name in PTB_FILES and name not in found:
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError):
        raise UserError("the download is not a readable .tgz archive; check "
                        "--download_url") from None
    missing = [name for name in PTB_FILES if name not in found]
    if missing:
        raise UserError(f"the archive has no {', '.join(missing)}; check "
                        "--download_url (simple-examples.tgz holds them in "
                        "simple-examples/data/)")
    return found


def download(dest: str, url: str = DEFAULT_URL, sha256: Optional[str] = None,
             log: Callable[[str], None] = print) -> str:
    """Puts PTB's three files into dest (see the module docstring); returns
    dest. UserError on any failure, with nothing new left in dest."""
    if has_ptb(dest):
        log(f"{dest} already holds {', '.join(PTB_FILES)}; nothing to do")
        return dest
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise UserError(f"--data_path={dest} is a file; choose a folder")
    os.makedirs(dest, exist_ok=True)
    log(f"Downloading {url}")
    # In memory: the archive is 34 MB; a failed transfer leaves no file.
    buffer = io.BytesIO()
    tenths_logged = 0

    def progress(received: int, expected: int) -> None:
        nonlocal tenths_logged
        if expected > 0 and 10 * received // expected > tenths_logged:
            tenths_logged = 10 * received // expected
            log(f"  {received / 1e6:.1f} of {expected / 1e6:.1f} MB")

    size = fetch(url, buffer, progress=progress)
    archive = buffer.getvalue()
    if sha256 and sha256_of(archive) != sha256.lower():
        raise UserError(f"checksum mismatch: {url} has SHA-256 "
                        f"{sha256_of(archive)}, expected {sha256}; the file "
                        "is not the one expected (nothing was extracted)")
    files = ptb_members(archive)
    if not sha256:
        for name, content in files.items():
            if sha256_of(content) != PTB_SHA256[name]:
                raise UserError(
                    f"checksum mismatch: {name} in {url} has SHA-256 "
                    f"{sha256_of(content)}, expected PTB's {PTB_SHA256[name]} "
                    "(nothing was extracted); pass --sha256 for another "
                    "archive")
    # Written beside their final names, then renamed: a crash leaves at most
    # a temporary file, never a partial ptb.*.txt.
    for name, content in files.items():
        target = os.path.join(dest, name)
        if os.path.exists(target):
            continue  # a user's own copy is kept
        handle, temporary = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "wb") as output:
                output.write(content)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
    log(f"PTB is in {dest} ({size:,} bytes downloaded)")
    return dest
