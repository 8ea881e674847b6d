"""Scoring in bounded memory: long lines read and scored in pieces."""

import io

import numpy as np
import pytest

from ptb_tf.errors import UserError
from ptb_tf.serving import scoring


def pieces_of(text, level="word", window=1000):
    return list(scoring.read_pieces(io.BytesIO(text.encode("utf-8")), level,
                                    window))


def test_short_lines_come_whole_with_their_eos():
    got = pieces_of("the cat\r\n\na dog")
    assert [(p.tokens, p.text, p.ends_line, p.number) for p in got] == [
        (["the", "cat", "<eos>"], "the cat", True, 1),
        (["<eos>"], "", True, 2),
        (["a", "dog", "<eos>"], "a dog", True, 3)]
    assert pieces_of("") == []
    assert pieces_of("x\n")[-1].number == 1  # no empty line after the last


@pytest.mark.parametrize("level", ["word", "char"])
def test_a_long_line_is_cut_between_tokens_whatever_the_reads(monkeypatch,
                                                              level):
    # Reads of 7 bytes cut words, a two-byte character and a "\r\n" apart.
    monkeypatch.setattr(scoring, "READ_BYTES", 7)
    line = "the cät sat on the mat and the dog saw the log " * 5 + "\r"
    got = pieces_of(line + "\nend", level, window=4)
    whole = pieces_of(line + "\nend", level, window=10**6)
    assert [len(p.tokens) for p in got[:-2]] == [4] * (len(got) - 2)
    assert not any(p.ends_line for p in got[:-2]) and got[-2].ends_line
    assert [t for p in got[:-1] for t in p.tokens] == whole[0].tokens
    assert got[-2].text == line[:scoring.SHOWN_CHARACTERS] + " ..."
    assert got[-1].tokens[:-1] == (["end"] if level == "word" else list("end"))
    assert whole[0].tokens[-2] != "\r"  # the "\r\n" is a line break


def test_a_line_that_is_not_utf8_is_refused_with_its_number():
    with pytest.raises(UserError, match="line 2 of --input is not UTF-8"):
        list(scoring.read_pieces(io.BytesIO(b"fine\ncaf\xe9\n")))


def test_one_long_line_scores_as_the_same_text_split_into_lines(trained,
                                                                monkeypatch):
    """Stream scores: a line of 600 tokens read 50 bytes at a time in pieces
    of 32 tokens equals the same tokens as 100 short lines."""
    from ptb_tf.serving.source import ModelSource  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(scoring, "READ_BYTES", 50)
    sentences = ["the cat sat on the mat", "a dog saw the log"] * 50
    signatures = ModelSource(saved_model=trained["path"]).signatures()
    split = scoring.Scorer(signatures)
    lines = list(split.lines(scoring.read_pieces(io.BytesIO(
        "\n".join(sentences).encode()))))
    assert len(lines) == 100
    # The <eos> tokens written out, the last one the line break's.
    long_line = " <eos> ".join(sentences)
    cut = scoring.Scorer(signatures)
    (text, log_prob, count), = cut.lines(scoring.read_pieces(
        io.BytesIO(long_line.encode()), window=32))
    assert text.endswith(" ...") and count == split.total_tokens
    np.testing.assert_allclose(log_prob, split.total_log_prob, rtol=1e-5)
    independent = scoring.Scorer(signatures)
    (_, alone, _), = independent.lines(scoring.read_pieces(
        io.BytesIO(long_line.encode()), window=32), independent=True)
    np.testing.assert_allclose(alone, log_prob, rtol=1e-5)
