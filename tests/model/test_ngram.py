"""The Kneser-Ney baseline: proper distributions, and the command line."""

import math

import pytest
from tests.helpers import run_module

from ptb_tf.model.kneser_ney import KneserNey, _discounts


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_probabilities_sum_to_one_over_the_vocabulary(corpus, order):
    model = KneserNey(corpus.train, order, len(corpus.vocab))
    ids = corpus.vocab.encode
    contexts = [[], ids(["the"]), ids(["the", "cat"]), ids(["sat", "on", "the"]),
                ids(["zebra", "zebra"]),  # never seen: backs off
                list(corpus.train[:7])]
    for context in contexts:
        total = sum(model.probability(context, word)
                    for word in range(len(corpus.vocab)))
        assert total == pytest.approx(1.0, abs=1e-9), list(context)


def test_seen_continuations_beat_unseen_ones(corpus):
    model = KneserNey(corpus.train, 3, len(corpus.vocab))
    the, cat, mat, log = corpus.vocab.encode(["the", "cat", "mat", "log"])
    sat_on = corpus.vocab.encode(["sat", "on"])
    assert model.probability(sat_on, the) > model.probability(sat_on, cat)
    assert model.probability([the], mat) > model.probability([the], sat_on[0])
    assert model.probability([the], log) > 0


def test_discounts_follow_chen_and_goodman():
    counts = [1] * 100 + [2] * 40 + [3] * 20 + [4] * 10
    y = 100 / (100 + 2 * 40)
    assert _discounts(counts) == pytest.approx(
        (1 - 2 * y * 40 / 100, 2 - 3 * y * 20 / 40, 3 - 4 * y * 10 / 20))
    # n4 is the number of 4s, not of counts of 4 or more.
    assert _discounts(counts + [7] * 50) == _discounts(counts)
    assert _discounts([1, 1, 2]) == (0.5, 1.0, 1.5)  # too little data


def test_log_probability_is_the_sum_over_predictions(corpus):
    model = KneserNey(corpus.train, 2, len(corpus.vocab))
    ids = list(corpus.test[:6])
    expected = sum(math.log(model.probability(ids[:index], ids[index]))
                   for index in range(1, len(ids)))
    total, predictions = model.log_probability(ids)
    assert predictions == 5 and total == pytest.approx(expected)


def test_command_line_prints_valid_and_test_perplexity(tiny_corpus_path, tmp_path):
    results = tmp_path / "ngram.json"
    result = run_module("ngram", f"--data_path={tiny_corpus_path}", "--order=3",
                        f"--results_file={results}")
    assert result.returncode == 0, result.stderr
    assert "Valid Perplexity:" in result.stdout
    assert "Test Perplexity:" in result.stdout
    bad = run_module("ngram", f"--data_path={tiny_corpus_path}", "--order=0",
                     fresh=True)  # the only line: before TensorFlow starts
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --order must be >= 1. Received: order=0"
