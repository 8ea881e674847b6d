"""Shared fixtures: the real PTB folder and tiny corpora written per test."""

import os

import pytest
from tests.helpers import REPO_ROOT, tiny_config, train_tiny, write_corpus


@pytest.fixture(scope="session")
def ptb_path():
    """The real PTB: $PTB_DATA_PATH, else ../shared/data/ptb beside the repo."""
    path = os.environ.get("PTB_DATA_PATH",
                          os.path.join(REPO_ROOT, "..", "shared", "data", "ptb"))
    if not os.path.isfile(os.path.join(path, "ptb.train.txt")):
        pytest.fail(f"PTB not found at {path}: set PTB_DATA_PATH to the folder "
                    "holding ptb.train.txt")
    return path


@pytest.fixture
def tiny_corpus_path(tmp_path):
    return write_corpus(tmp_path / "data")


@pytest.fixture
def corpus(tiny_corpus_path):
    """The tiny corpus, loaded (10 training batches for TINY_CONFIG)."""
    from ptb_tf.corpus.splits import load_corpus  # pylint: disable=g-import-not-at-top
    return load_corpus(tiny_corpus_path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny model trained one epoch: its run folder and a first export."""
    # Imported here so that modules without this fixture need no TensorFlow.
    from ptb_tf import run_dir  # pylint: disable=import-outside-toplevel
    from ptb_tf.corpus.splits import load_corpus  # pylint: disable=import-outside-toplevel
    from ptb_tf.serving import saved_model  # pylint: disable=import-outside-toplevel
    from ptb_tf.training.models import load_model  # pylint: disable=import-outside-toplevel
    root = tmp_path_factory.mktemp("trained")
    corpus = load_corpus(write_corpus(root / "data"))
    config = tiny_config(corpus, init_scale=0.3, max_max_epoch=1)
    save_path = str(root / "run")
    results = train_tiny(config, corpus, save_path=save_path,
                         log=lambda _: None)
    config, vocab_path = run_dir.load_run(save_path)
    export_dir = str(root / "exports" / "tiny")
    path = saved_model.export(save_path, export_dir, next_words=3)
    return dict(corpus=corpus, config=config, save_path=save_path,
                vocab_path=vocab_path, export_dir=export_dir, path=path,
                model=load_model(save_path), vocab=corpus.vocab,
                data_path=str(root / "data"), results=results)


