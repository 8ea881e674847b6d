"""Golden: a run folder and an export written by earlier code still work.

tests/golden/tiny_run/ was written by the commit in its WRITTEN_BY file (a
run stopped mid-epoch 2 of 2) and tests/golden/signatures.json describes
that code's export; both are never rewritten (tests/golden/make_golden.py).
Today's code must load the run, resume it, and export it with the same
signatures.
"""

import json
import os

import pytest
from tests.golden.make_golden import describe_signatures
from tests.helpers import REPO_ROOT, copy_golden_run, train_tiny, write_corpus


GOLDEN = os.path.join(REPO_ROOT, "tests", "golden")


@pytest.fixture
def golden_run(tmp_path):
    """A copy of the golden run (tests never write into the committed one)
    and the tiny corpus it was trained on."""
    from ptb_tf.corpus.splits import load_corpus  # pylint: disable=import-outside-toplevel
    from ptb_tf import run_dir  # pylint: disable=import-outside-toplevel
    run = copy_golden_run(str(tmp_path))
    config, vocab_path = run_dir.load_run(run)
    corpus = load_corpus(write_corpus(tmp_path / "data"))
    return dict(run=run, config=config, vocab_path=vocab_path, corpus=corpus)


def test_the_golden_run_loads_and_resumes_mid_epoch(golden_run):
    from ptb_tf import run_dir  # pylint: disable=import-outside-toplevel
    from ptb_tf.training.models import load_model  # pylint: disable=import-outside-toplevel
    for which in ("best", "latest"):
        model = load_model(golden_run["run"], which)
        assert model.hidden_size == 4
    # The same checks a resuming command makes, then the rest of epoch 2.
    run_dir.prepare(golden_run["run"], golden_run["config"],
                     golden_run["corpus"])
    lines = []
    results = train_tiny(golden_run["config"], golden_run["corpus"],
                         save_path=golden_run["run"], log=lines.append)
    assert not any(line.startswith("Epoch: 1 ") for line in lines), lines
    assert [row["epoch"] for row in results["epochs"]][-1] == 2
    assert results["test_perplexity"] > 1


def test_the_golden_run_exports_with_the_golden_signatures(golden_run,
                                                           tmp_path):
    from ptb_tf.serving import saved_model  # pylint: disable=import-outside-toplevel
    path = saved_model.export(golden_run["run"], str(tmp_path / "export"),
                              next_words=3)
    with open(os.path.join(GOLDEN, "signatures.json")) as golden:
        assert describe_signatures(path) == json.load(golden)
