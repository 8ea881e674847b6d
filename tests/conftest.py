"""Shared fixtures: the real PTB folder and tiny corpora written per test."""

import dataclasses
import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny corpus in PTB's format: a space at each line's start and end.
TINY_TRAIN = (" the cat sat on the mat \n the dog sat on the log \n"
              " a cat saw a dog \n the mat was on the log \n") * 8
TINY_VALID = " the cat sat on the log \n a dog saw the mat \n" * 4
TINY_TEST = " the dog sat on the mat \n a cat saw the log \n zebra \n" * 3


@pytest.fixture(scope="session")
def ptb_path():
    """The real PTB: $PTB_DATA_PATH, else ../shared/data/ptb beside the repo."""
    path = os.environ.get("PTB_DATA_PATH",
                          os.path.join(REPO_ROOT, "..", "shared", "data", "ptb"))
    if not os.path.isfile(os.path.join(path, "ptb.train.txt")):
        pytest.fail(f"PTB not found at {path}: set PTB_DATA_PATH to the folder "
                    "holding ptb.train.txt")
    return path


def write_corpus(folder, train=TINY_TRAIN, valid=TINY_VALID, test=TINY_TEST):
    """Writes ptb.{train,valid,test}.txt (str or bytes) into `folder`."""
    os.makedirs(folder, exist_ok=True)
    for split, content in (("train", train), ("valid", valid), ("test", test)):
        if content is None:
            continue
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(os.path.join(folder, f"ptb.{split}.txt"), mode) as data_file:
            data_file.write(content)
    return str(folder)


@pytest.fixture
def tiny_corpus_path(tmp_path):
    return write_corpus(tmp_path / "data")


@pytest.fixture
def corpus(tiny_corpus_path):
    """The tiny corpus, loaded (10 training batches for TINY_CONFIG)."""
    from ptb_tf import reader  # pylint: disable=g-import-not-at-top
    return reader.load_corpus(tiny_corpus_path)


def tiny_config(corpus, **changes):
    """A 2-layer, 8-unit model for the tiny corpus; changes override it."""
    from ptb_tf.config import Config  # pylint: disable=g-import-not-at-top
    return dataclasses.replace(
        Config(init_scale=0.1, learning_rate=1.0, max_grad_norm=5.0,
               num_layers=2, num_steps=5, hidden_size=8, max_epoch=1,
               max_max_epoch=2, keep_prob=1.0, lr_decay=0.5, batch_size=4,
               vocab_size=len(corpus.vocab)), **changes)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny model trained one epoch: its run folder and a first export."""
    # Imported here so that modules without this fixture need no TensorFlow.
    from ptb_tf import export, reader, save_dir  # pylint: disable=g-import-not-at-top
    from ptb_tf.config import Config  # pylint: disable=g-import-not-at-top
    from ptb_tf.training import load_model, train_and_evaluate  # pylint: disable=g-import-not-at-top
    root = tmp_path_factory.mktemp("trained")
    corpus = reader.load_corpus(write_corpus(root / "data"))
    config = Config(init_scale=0.3, learning_rate=1.0, max_grad_norm=5.0,
                    num_layers=2, num_steps=5, hidden_size=8, max_epoch=1,
                    max_max_epoch=1, keep_prob=1.0, lr_decay=0.5, batch_size=4,
                    vocab_size=len(corpus.vocab))
    save_path = str(root / "run")
    save_dir.prepare(save_path, config, corpus)
    results = train_and_evaluate(config, corpus, save_path=save_path,
                                 log=lambda _: None)
    config, vocab_path = save_dir.load_run(save_path)
    export_dir = str(root / "exports" / "tiny")
    path = export.export(config, save_path, vocab_path, export_dir, top_k=3)
    return dict(corpus=corpus, config=config, save_path=save_path,
                vocab_path=vocab_path, export_dir=export_dir, path=path,
                model=load_model(config, save_path), vocab=corpus.vocab,
                data_path=str(root / "data"), results=results)


class Stop(Exception):
    """Raised from a log callback to stop a run where a crash would."""


def run_until(config, corpus, save_path, stop_at, **options):
    """Trains until a log line matches stop_at(line), as a crash would stop it."""
    from ptb_tf.training import train_and_evaluate  # pylint: disable=g-import-not-at-top

    def log(line):
        if stop_at(line):
            raise Stop()

    with pytest.raises(Stop):
        train_and_evaluate(config, corpus, save_path=save_path, log=log,
                           **options)


def nth_line_in_epoch(epoch, n, marker):
    """A stop_at: the n-th line of the given epoch that contains marker."""
    seen = {"epoch": 0, "count": 0}

    def stop_at(line):
        if line.startswith("Epoch: "):
            seen["epoch"] = int(line.split()[1])
        elif marker in line and seen["epoch"] == epoch:
            seen["count"] += 1
            return seen["count"] == n
        return False

    return stop_at
