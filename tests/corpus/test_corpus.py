"""Reading, vocabulary and the ptb_producer layout, checked on exact arrays."""

import gzip
import zipfile

import numpy as np
import pytest
from tests.helpers import write_corpus

from ptb_tf.corpus.datasets import chunk_dataset, sequential_windows, window_dataset
from ptb_tf.corpus.layout import batchify, check_batchable, num_batches
from ptb_tf.corpus.splits import DataSpec, load_corpus
from ptb_tf.corpus.text import read_text, read_words, tokenize
from ptb_tf.corpus.vocab import EOS, UNK, Vocabulary
from ptb_tf.errors import UserError


TUTORIAL_RAW = [4, 3, 2, 1, 0, 5, 6, 1, 1, 1, 1, 0, 3, 4, 1]


def test_window_dataset_reproduces_tutorial_reader_test():
    batches = [(x.numpy(), y.numpy())
               for x, y in window_dataset(np.array(TUTORIAL_RAW), 3, 2)]
    assert len(batches) == 2
    (x0, y0), (x1, y1) = batches
    np.testing.assert_array_equal(x0, [[4, 3], [5, 6], [1, 0]])
    np.testing.assert_array_equal(y0, [[3, 2], [6, 1], [0, 3]])
    np.testing.assert_array_equal(x1, [[2, 1], [1, 1], [3, 4]])
    np.testing.assert_array_equal(y1, [[1, 0], [1, 1], [4, 1]])
    assert x0.dtype == np.int32 and y0.dtype == np.int32


def test_window_dataset_drops_tail_and_keeps_rows_contiguous():
    ids = np.arange(23)  # batch_size 2 -> rows of 11, windows of 3 -> 3 batches
    batches = [(x.numpy(), y.numpy()) for x, y in window_dataset(ids, 2, 3)]
    assert len(batches) == num_batches(23, 2, 3) == 3
    inputs = np.concatenate([x for x, _ in batches], axis=1)
    targets = np.concatenate([y for _, y in batches], axis=1)
    np.testing.assert_array_equal(inputs, [np.arange(9), np.arange(11, 20)])
    np.testing.assert_array_equal(targets, inputs + 1)
    for x, y in batches:
        assert x.shape == y.shape == (2, 3)


def test_batchify_layout():
    np.testing.assert_array_equal(batchify(np.arange(11), 3),
                                  [[0, 1, 2], [3, 4, 5], [6, 7, 8]])


@pytest.mark.parametrize("window", [1, 4, 100])
def test_sequential_windows_cover_every_prediction_once(window):
    ids = np.arange(10, 27)
    parts = sequential_windows(ids, window)
    inputs = np.concatenate([x.reshape(-1) for x, _ in parts])
    targets = np.concatenate([y.reshape(-1) for _, y in parts])
    np.testing.assert_array_equal(inputs, ids[:-1])
    np.testing.assert_array_equal(targets, ids[1:])
    # Full windows first, then at most one shorter window.
    assert parts[0][0].shape[1:] == (1, min(window, 16))
    assert len(parts) == (1 if 16 % window == 0 or window > 16 else 2)
    assert all(x.dtype == np.int32 for x, _ in parts)


def test_chunk_dataset_groups_the_windows_in_equal_padded_chunks():
    ids = np.arange(23)  # batch 2, 3 steps: 3 windows; 2 chunks of 2
    windows = [(x.numpy(), y.numpy()) for x, y in window_dataset(ids, 2, 3)]
    chunks = [(x.numpy(), y.numpy(), int(n))
              for x, y, n in chunk_dataset(ids, 2, 3, size=2)]
    assert [n for _, _, n in chunks] == [2, 1]
    assert all(x.shape == (2, 2, 3) for x, _, _ in chunks)
    np.testing.assert_array_equal(chunks[0][0], [windows[0][0], windows[1][0]])
    np.testing.assert_array_equal(chunks[0][1], [windows[0][1], windows[1][1]])
    np.testing.assert_array_equal(chunks[1][0][0], windows[2][0])
    np.testing.assert_array_equal(chunks[1][1][0], windows[2][1])
    np.testing.assert_array_equal(chunks[1][0][1], np.zeros((2, 3)))  # padding
    # Resuming at batch 2 gives the same last group.
    (x, y, n), = list(chunk_dataset(ids, 2, 3, size=2, start=2))
    np.testing.assert_array_equal(x, chunks[1][0])
    assert int(n) == 1


def test_read_words_turns_line_breaks_into_eos(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(" a b \n c \n\nd\r\ne")  # unpadded lines and CRLF too
    assert read_words(str(path)) == [
        "a", "b", EOS, "c", EOS, EOS, "d", EOS, "e"]


def test_vocab_order_counts_then_word():
    vocab = Vocabulary.build("b a c b a d b <unk> <eos>".split())
    # b:3, a:2, then the count-1 words in ascending order.
    assert vocab.words == ["b", "a", "<eos>", "<unk>", "c", "d"]


def test_vocab_adds_unk_when_training_lacks_it_and_maps_unknowns():
    vocab = Vocabulary.build(["x", "y", "x", EOS])
    assert vocab.words == ["x", EOS, "y", UNK]
    np.testing.assert_array_equal(vocab.encode(["y", "zzz", "x"]),
                                  [2, vocab.unk_id, 0])
    assert vocab.encode(["x"]).dtype == np.int32


def test_vocab_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build("the cat the <unk> dog".split())
    path = str(tmp_path / "vocab.txt")
    vocab.save(path)
    assert open(path).read().splitlines() == vocab.words
    assert Vocabulary.load(path) == vocab


def test_load_corpus_on_tiny_files(tiny_corpus_path):
    corpus = load_corpus(tiny_corpus_path)
    vocab = corpus.vocab
    assert vocab.words[0] == "the"  # the most frequent word
    assert UNK in vocab.ids and EOS in vocab.ids
    # "zebra" is only in the test file: it becomes <unk>.
    assert (corpus.test == vocab.unk_id).sum() == 3
    assert corpus.train.dtype == np.int32
    assert vocab.decode(corpus.valid[:7]) == "the cat sat on the log <eos>".split()


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\n\n  \n", "has no words"),
    (b"abc\0def", "looks binary"),
    (b"caf\xe9 au lait", "is not UTF-8"),
])
def test_bad_training_file(tmp_path, content, message):
    folder = write_corpus(tmp_path / "data", train=content)
    with pytest.raises(UserError, match=message):
        load_corpus(folder)


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="data folder not found"):
        load_corpus(str(tmp_path / "nowhere"))
    folder = write_corpus(tmp_path / "data", valid=None)
    with pytest.raises(UserError, match="data file not found: .*ptb.valid.txt"):
        load_corpus(folder)


def test_corpus_too_small_for_one_batch():
    check_batchable("train", 21 * 20, 20, 20)  # exactly one batch
    with pytest.raises(UserError, match="too few for one batch"):
        check_batchable("train", 21 * 20 - 1, 20, 20)


def test_real_ptb_counts(ptb_path):
    corpus = load_corpus(ptb_path)
    assert len(corpus.vocab) == 10000
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (
        929589, 73760, 82430)
    # Every valid and test word is in the training vocabulary (PTB's own).
    for split in ("valid", "test"):
        words = read_words(f"{ptb_path}/ptb.{split}.txt")
        assert all(word in corpus.vocab.ids for word in words)
    assert corpus.vocab.words[:4] == ["the", UNK, EOS, "N"]


def test_vocabulary_caps_keep_the_most_frequent_and_unk():
    tokens = "a a a a b b b c c d".split()
    assert Vocabulary.build(tokens).words == ["a", "b", "c", "d", UNK]
    assert Vocabulary.build(tokens, max_size=3).words == ["a", "b", UNK]
    assert Vocabulary.build(tokens, min_count=2).words == ["a", "b", "c", UNK]
    capped = Vocabulary.build(tokens + [UNK] * 5, max_size=2)
    assert capped.words == [UNK, "a"]
    assert list(capped.encode(["a", "d", "zzz"])) == [1, 0, 0]


def test_a_character_vocabulary_survives_save_and_load(tmp_path):
    # "\u2028" and "\x85" are line breaks to str.splitlines(), not to vocab.txt.
    vocab = Vocabulary.build(["分", "开", " ", "\u2028", "\x85", EOS])
    vocab.save(str(tmp_path / "vocab.txt"))
    assert Vocabulary.load(str(tmp_path / "vocab.txt")) == vocab


def test_char_level_tokens_and_compressed_files(tmp_path):
    text = "分开 的\n爱\n"
    assert tokenize(text, "char") == ["分", "开", " ", "的", EOS, "爱", EOS]
    plain = tmp_path / "t.txt"
    plain.write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "t.txt.gz", "wb") as compressed:
        compressed.write(text.encode("utf-8"))
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as archive:
        archive.writestr("lyrics.txt", text.encode("utf-8"))
    for name in ("t.txt", "t.txt.gz", "t.zip"):
        assert read_text(str(tmp_path / name)) == text, name
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.txt", "a")
        archive.writestr("b.txt", "b")
    with pytest.raises(UserError, match="holds 2 files"):
        read_text(str(tmp_path / "two.zip"))
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00 not gzip")
    with pytest.raises(UserError, match="cannot read .*broken.gz"):
        read_text(str(tmp_path / "broken.gz"))


def test_text_file_is_cut_in_order_by_the_split(tmp_path):
    path = tmp_path / "all.txt"
    path.write_text(" ".join(f"w{index}" for index in range(100)))
    corpus = load_corpus(DataSpec(text_file=str(path),
                                                split=(0.8, 0.1, 0.1)))
    decode = corpus.vocab.decode
    assert decode(corpus.train) == [f"w{index}" for index in range(80)]
    assert decode(corpus.valid)[0] == UNK  # w80 is not in training
    assert len(corpus.valid) == 10 and len(corpus.test) == 10


def test_separate_files_and_char_level(tmp_path):
    folder = write_corpus(tmp_path / "data")
    spec = DataSpec(train_file=f"{folder}/ptb.train.txt",
                           valid_file=f"{folder}/ptb.valid.txt",
                           test_file=f"{folder}/ptb.test.txt", level="char")
    corpus = load_corpus(spec)
    assert "c" in corpus.vocab.words and "cat" not in corpus.vocab.words
    assert corpus.vocab.decode(corpus.train[:5]) == [" ", "t", "h", "e", " "]


@pytest.mark.parametrize("changes, fragment", [
    (dict(), "give the data one way"),
    (dict(data_path="d", text_file="t"), "give the data one way"),
    (dict(train_file="a", valid_file="b"), "go together: give all three"),
    (dict(text_file="t", level="byte"), "--level must be word or char"),
    (dict(text_file="t", split=(0.9, 0.2, 0.1)), "--split must be three"),
    (dict(text_file="t", split=(1.0, 0.0, 0.0)), "--split must be three"),
    (dict(text_file="t", max_vocab_size=1), "--max_vocab_size must be 0"),
    (dict(text_file="t", min_count=0), "--min_count must be >= 1"),
])
def test_data_spec_problems(changes, fragment):
    assert fragment in DataSpec(**changes).problem()
    assert DataSpec(text_file="t").problem() is None


def test_an_unreadable_file_is_one_line(tmp_path, monkeypatch):
    """No permission (a test running as root cannot take it away: open is
    made to refuse)."""
    import builtins  # pylint: disable=import-outside-toplevel
    path = tmp_path / "locked.txt"
    path.write_text("the cat\n")
    real_open = builtins.open

    def refusing_open(name, *args, **kwargs):
        if str(name) == str(path):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(UserError, match=r"cannot read .*locked.txt: permission "
                                        r"denied; make it readable"):
        read_text(str(path))


def test_the_training_pipelines_run_without_autotuning():
    # Deleting an autotuned pipeline's iterator waited for its thread's sleep
    # (a 7 s test config epoch read 10.2 s).
    ids = np.arange(100)
    for dataset in (window_dataset(ids, 2, 3), chunk_dataset(ids, 2, 3, 4)):
        assert dataset.options().autotune.enabled is False
