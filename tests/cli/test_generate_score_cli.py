"""`python -m ptb_tf.generate` and `python -m ptb_tf.score` as users run them."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import assert_last_line_error, output_lines, run_module

from ptb_tf import generate
from ptb_tf.serving.source import ModelSource


@pytest.fixture(scope="module")
def signatures(trained):
    return ModelSource(saved_model=trained["path"]).signatures()


@pytest.mark.slow
def test_beam_width_one_equals_greedy(trained):
    greedy = output_lines(run_module(
        "generate", f"--saved_model={trained['path']}", "--prefix=the cat",
        "--num_words=6", "--greedy"))
    beam = output_lines(run_module(
        "generate", f"--saved_model={trained['path']}", "--prefix=the cat",
        "--num_words=6", "--beam_width=1"))
    assert len(greedy) == len(beam) == 1
    greedy_logp, greedy_text = greedy[0].split("\t")
    beam_logp, beam_text = beam[0].split("\t")
    assert greedy_text == beam_text and greedy_text.startswith("the cat ")
    assert len(greedy_text.split()) == 8
    assert float(greedy_logp) == pytest.approx(float(beam_logp), abs=2e-3)


def test_beams_are_sorted_and_their_log_probs_equal_score(signatures):
    prefix = ["the", "dog"]
    beams = generate.beam_search(signatures, prefix, beam_width=4, num_words=3)
    assert len(beams) == 4
    scores = [log_prob for _, log_prob in beams]
    assert scores == sorted(scores, reverse=True)
    prefix_score = signatures["score"](words=tf.constant([prefix]))[
        "log_probability"].numpy()[0]
    for words, log_prob in beams:
        whole = signatures["score"](words=tf.constant([prefix + words]))[
            "log_probability"].numpy()[0]
        assert log_prob == pytest.approx(whole - prefix_score, abs=1e-4)


@pytest.mark.slow
def test_same_seed_same_text(trained):
    args = [f"--saved_model={trained['export_dir']}", "--prefix=a dog",
            "--num_words=12", "--num_samples=3", "--temperature=1.5"]
    first = output_lines(run_module("generate", *args, "--seed=7"))
    again = output_lines(run_module("generate", *args, "--seed=7"))
    other = output_lines(run_module("generate", *args, "--seed=8"))
    assert first == again and len(first) == 3
    assert first != other


@pytest.mark.slow
def test_generate_from_a_checkpoint_equals_from_the_export(trained):
    args = ["--prefix=the mat", "--num_words=5", "--seed=3"]
    from_export = output_lines(run_module(
        "generate", f"--saved_model={trained['path']}", *args))
    from_checkpoint = output_lines(run_module(
        "generate", f"--save_path={trained['save_path']}", *args))
    assert [line.split("\t")[1] for line in from_export] == \
        [line.split("\t")[1] for line in from_checkpoint]


@pytest.mark.parametrize("args, fragment", [
    (["--prefix="], "--prefix needs at least one word"),
    (["--prefix=   "], "--prefix needs at least one word"),
    (["--prefix=the", "--num_words=1001"], "--num_words must be from 1 to 1000"),
    (["--prefix=the", "--num_words=0"], "--num_words must be from 1 to 1000"),
    (["--prefix=the", "--temperature=0"], "--temperature must be > 0"),
    (["--prefix=the", "--temperature=-1"], "--temperature must be > 0"),
    (["--prefix=the", "--top_k=-1"], "--top_k must be >= 0"),
    ([b"--prefix=caf\xe9"], "--prefix is not valid UTF-8"),
])
def test_generate_bad_inputs(trained, args, fragment):
    assert_last_line_error(run_module("generate", f"--saved_model={trained['path']}",
                                 *args), fragment)


def test_model_source_errors(trained, tmp_path):
    assert_last_line_error(run_module("generate", "--prefix=the"),
                      "pass exactly one of --saved_model")
    assert_last_line_error(run_module("generate", "--prefix=the",
                                 f"--saved_model={trained['path']}",
                                 f"--save_path={trained['save_path']}"),
                      "pass exactly one of --saved_model")
    assert_last_line_error(run_module("generate", "--prefix=the",
                                 f"--saved_model={tmp_path}"),
                      "is not a SavedModel")
    assert_last_line_error(run_module("score", f"--save_path={tmp_path}"),
                      "holds no trained model")
    assert_last_line_error(run_module("export", f"--save_path={tmp_path}",
                                 f"--export_dir={tmp_path}/out"),
                      "holds no trained model")
    assert not os.path.exists(tmp_path / "out")


def keras_stream_log_probs(trained, words):
    """Reference: each token's log-prob reading <eos> + words as one stream."""
    vocab = trained["vocab"]
    ids = vocab.encode(["<eos>"] + words)
    logits, _ = trained["model"](ids[None, :-1])
    log_probs = tf.nn.log_softmax(logits[0]).numpy()
    return log_probs[np.arange(len(words)), ids[1:]]


@pytest.mark.slow
def test_score_stream_equals_the_model_over_the_whole_text(trained):
    test_file = os.path.join(trained["data_path"], "ptb.test.txt")
    lines = output_lines(run_module("score", f"--saved_model={trained['path']}",
                                    f"--input={test_file}", "--window=7"))
    text_lines = open(test_file).read().splitlines()
    assert len(lines) == len(text_lines) + 1
    words = [word for line in text_lines for word in line.split() + ["<eos>"]]
    expected = keras_stream_log_probs(trained, words)
    start = 0
    for line, text in zip(lines, text_lines):
        log_prob, count, _, echoed = line.split("\t")
        count = int(count)
        assert echoed == text and count == len(text.split()) + 1
        assert float(log_prob) == pytest.approx(
            expected[start:start + count].sum(), abs=1e-3)
        start += count
    corpus = lines[-1]
    assert corpus.startswith(f"Corpus: {len(words)} tokens")
    assert float(corpus.rsplit(" ", 1)[1]) == pytest.approx(
        np.exp(-expected.mean()), rel=1e-4)
    # The training script's test perplexity differs only in the first token.
    assert float(corpus.rsplit(" ", 1)[1]) == pytest.approx(
        trained["results"]["test_perplexity"], rel=0.1)


@pytest.mark.slow
def test_score_independent_lines_from_stdin(trained, signatures):
    text = "the cat sat\n a dog saw the mat \n\n"
    lines = output_lines(run_module("score", f"--save_path={trained['save_path']}",
                                    "--independent", "--lines_per_batch=2",
                                    stdin=text))
    assert len(lines) == 4
    for line, sentence in zip(lines, text.splitlines()):
        words = sentence.split() + ["<eos>"]
        expected = signatures["score"](words=tf.constant([words]))
        assert float(line.split("\t")[0]) == pytest.approx(
            float(expected["log_probability"][0]), abs=1e-3)


@pytest.mark.slow
def test_score_bad_inputs(trained, tmp_path):
    source = f"--saved_model={trained['path']}"
    assert_last_line_error(run_module("score", source, f"--input={tmp_path}/none"),
                      "not found")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"the cat\ncaf\xe9\n")
    assert_last_line_error(run_module("score", source, f"--input={bad}"),
                      "line 2 of --input")
    assert_last_line_error(run_module("score", source, stdin=""),
                      "--input has no lines to score")
