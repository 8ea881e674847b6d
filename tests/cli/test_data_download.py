"""`python -m ptb_tf.data download` against a server on 127.0.0.1."""

import hashlib
import http.server
import io
import os
import tarfile
import threading

import pytest
from tests.helpers import (TINY_TEST, TINY_TRAIN, TINY_VALID,
                           assert_user_error, run_module)

from ptb_tf.corpus import ptb


def tgz(files):
    """A .tgz laid out like simple-examples.tgz: {name: bytes} in
    simple-examples/data/, plus a file that is not PTB's."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in list(files.items()) + [("README", b"not ptb")]:
            info = tarfile.TarInfo(f"./simple-examples/data/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


TINY = {"ptb.train.txt": TINY_TRAIN.encode(), "ptb.valid.txt": TINY_VALID.encode(),
        "ptb.test.txt": TINY_TEST.encode()}
TINY_TGZ = tgz(TINY)
TINY_SHA256 = hashlib.sha256(TINY_TGZ).hexdigest()


class Server:
    """Serves {path: bytes}; "/cut/..." sends half its body, then hangs up."""

    def __init__(self, files):
        self.files = files
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                cut = self.path.startswith("/cut/")
                body = server.files.get(self.path[4:] if cut else self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if cut else body)
                if cut:
                    self.wfile.flush()
                    self.connection.close()

            def log_message(self, *args):
                del args

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with Server({"/tiny.tgz": TINY_TGZ, "/junk.tgz": b"<html>moved</html>"}) as running:
        yield running


def assert_failed_cleanly(result, fragment, dest):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert fragment in result.stderr, result.stderr
    # Nothing half-done: no PTB file and no temporary file.
    assert not os.path.exists(dest) or os.listdir(dest) == []


# The flags' names, and the old ones that still work and say what they became.
@pytest.mark.parametrize("folder_flag,url_flag", [("data_path", "download_url"),
                                                  ("dest", "url")])
def test_download_verifies_and_extracts(server, tmp_path, folder_flag,
                                        url_flag):
    dest = tmp_path / "ptb"
    result = run_module("data", "download", f"--{folder_flag}={dest}",
                        f"--{url_flag}={server.url('/tiny.tgz')}",
                        f"--sha256={TINY_SHA256}")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(dest)) == sorted(TINY)  # nothing else
    for name, content in TINY.items():
        assert (dest / name).read_bytes() == content
    assert "PTB is in" in result.stdout
    notes = [line for line in result.stderr.splitlines()
             if line.startswith("note: ")]
    assert notes == ([] if folder_flag == "data_path" else [
        "note: --dest is now called --data_path; the old name still works "
        "for now",
        "note: --url is now called --download_url; the old name still works "
        "for now"])


def test_an_old_flag_name_beside_its_new_one_is_refused(tmp_path):
    result = run_module("data", "download", f"--dest={tmp_path}",
                        f"--data_path={tmp_path}", fresh=True)
    assert_user_error(result, "--dest is the old name of --data_path; pass "
                              "only --data_path")


def test_checksum_mismatch_extracts_nothing(server, tmp_path):
    dest = tmp_path / "ptb"
    wrong = "0" * 64
    result = run_module("data", "download", f"--data_path={dest}",
                        f"--download_url={server.url('/tiny.tgz')}", f"--sha256={wrong}")
    assert_failed_cleanly(result, "checksum mismatch", dest)
    # Without --sha256 the files are checked against PTB's own digests,
    # which the tiny corpus does not have.
    result = run_module("data", "download", f"--data_path={dest}",
                        f"--download_url={server.url('/tiny.tgz')}")
    assert_failed_cleanly(result, "checksum mismatch: ptb.t", dest)


def test_connection_cut_mid_transfer(server, tmp_path):
    dest = tmp_path / "ptb"
    result = run_module("data", "download", f"--data_path={dest}",
                        f"--download_url={server.url('/cut/tiny.tgz')}",
                      f"--sha256={TINY_SHA256}")
    assert_failed_cleanly(result, f"of {len(TINY_TGZ):,} bytes", dest)
    assert "run again" in result.stderr


@pytest.mark.parametrize("path, fragment", [
    ("/nothing.tgz", "HTTP Error 404"), ("/junk.tgz", "not a readable .tgz")])
def test_bad_url_or_archive(server, tmp_path, path, fragment):
    dest = tmp_path / "ptb"
    result = run_module("data", "download", f"--data_path={dest}",
                        f"--download_url={server.url(path)}")
    assert_failed_cleanly(result, fragment, dest)


def test_populated_folder_is_left_alone(server, tmp_path):
    dest = tmp_path / "ptb"
    dest.mkdir()
    for name in TINY:
        (dest / name).write_text("mine\n")
    result = run_module("data", "download", f"--data_path={dest}",
                        f"--download_url={server.url('/tiny.tgz')}")
    assert result.returncode == 0 and "nothing to do" in result.stdout
    assert server.requests == []
    assert all((dest / name).read_text() == "mine\n" for name in TINY)


def test_a_users_own_file_is_kept(server, tmp_path):
    dest = tmp_path / "ptb"
    dest.mkdir()
    (dest / "ptb.train.txt").write_text("mine\n")
    result = run_module("data", "download", f"--data_path={dest}",
                        f"--download_url={server.url('/tiny.tgz')}",
                      f"--sha256={TINY_SHA256}")
    assert result.returncode == 0, result.stderr
    assert (dest / "ptb.train.txt").read_text() == "mine\n"
    assert (dest / "ptb.valid.txt").read_bytes() == TINY["ptb.valid.txt"]


def test_bad_flags(tmp_path):
    result = run_module("data", "fetch")
    assert result.returncode == 2 and "usage: python -m ptb_tf.data download" \
        in result.stderr
    result = run_module("data", "download", "--sha256=abc")
    assert result.returncode == 2 and "64 hexadecimal digits" in result.stderr


@pytest.mark.slow
def test_train_without_data_flags_downloads_real_ptb_into_the_cache(
        ptb_path, tmp_path):
    """The default check (PTB's file digests) on an archive of the real files."""
    real = {name: open(os.path.join(ptb_path, name), "rb").read()
            for name in ptb.PTB_FILES}
    cache = tmp_path / "cache"
    env = dict(os.environ, PTB_TF_CACHE=str(cache))
    with Server({"/simple-examples.tgz": tgz(real)}) as running:

        def train():
            # --vocab_size=5 stops it right after reading the data.
            return run_module(
                "train", "--model=test", "--vocab_size=5",
                f"--download_url={running.url('/simple-examples.tgz')}", env=env)

        result = train()
        assert "gives 10000 words but --vocab_size=5" in result.stderr
        assert f"getting PTB into {cache / 'ptb'}" in result.stdout
        for name, content in real.items():
            assert (cache / "ptb" / name).read_bytes() == content
        # The second time it reads the cache without asking the server.
        requests = len(running.requests)
        assert "gives 10000 words" in train().stderr
        assert len(running.requests) == requests
