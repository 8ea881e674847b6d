"""`python -m ptb_tf.train` as a user runs it: bad inputs, a run, a resume."""

import json
import os

from absl import flags
import pytest
from tests.helpers import (TINY_FLAGS, assert_user_error,
                           run_module, write_corpus)

from ptb_tf import train
from ptb_tf.errors import UsageError


@pytest.mark.parametrize("files, fragments", [
    (dict(train=b""), ["ptb.train.txt", "is empty"]),
    (dict(train=b"\n \n\n"), ["has no words"]),
    (dict(valid=b"\x00\x01\x02binary"), ["ptb.valid.txt", "looks binary"]),
    (dict(test=b"caf\xe9\n"), ["ptb.test.txt", "is not UTF-8"]),
    (dict(valid=None), ["data file not found", "ptb.valid.txt"]),
    (dict(valid=" a b \n"), ["valid data has 3 tokens", "too few for one batch"]),
])
def test_bad_data_files(tmp_path, files, fragments):
    folder = write_corpus(tmp_path / "data", **files)
    result = run_module("train", f"--data_path={folder}", *TINY_FLAGS, fresh=True)
    assert_user_error(result, *fragments)
    assert result.returncode == 1


@pytest.mark.parametrize("flag, fragment", [
    ("--num_steps=0", "--num_steps must be a whole number >= 1"),
    ("--keep_prob=0", "--keep_prob must be in (0, 1]. Received: keep_prob=0.0"),
    ("--keep_prob=1.5", "--keep_prob must be in (0, 1]"),
    ("--batch_size=-2", "--batch_size must be"),
    ("--hidden_size=0", "--hidden_size must be a whole number >= 1"),
    ("--num_layers=-1", "--num_layers must be a whole number >= 1"),
    ("--max_max_epoch=0", "--max_max_epoch must be a whole number >= 1"),
    ("--vocab_size=-5", "--vocab_size must be >= 0"),
    ("--max_grad_norm=0", "--max_grad_norm must be a finite number > 0"),
    ("--max_grad_norm=inf", "--max_grad_norm must be a finite number > 0"),
    ("--learning_rate=0", "--learning_rate must be a finite number > 0"),
    ("--init_scale=nan", "--init_scale must be a finite number > 0"),
    ("--keep_prob=1e-17", "rounds to 1; keep at least 1e-7"),
    ("--seed=-1", "--seed must be a whole number from 0 to 2**32 - 1"),
    ("--model=huge", "--model must be one of small, medium, large, test"),
    ("--eval_window=0", "--eval_window must be >= 1"),
    ("--rnn_mode=fused", "--rnn_mode must be one of auto, keras, unrolled, block"),
    ("--rnn_mode=block --jit_compile", "XLA has no kernel for the fused"),
    ("--precision=float16", "--precision must be one of float32, mixed_bfloat16"),
    ("--rnn_mode=block --precision=mixed_bfloat16", "runs in float32 only"),
    ("--level=byte", "--level must be word or char"),
    ("--text_file=t.txt", "give the data one way"),
    ("--max_vocab_size=-3", "--max_vocab_size must be 0 (no cap) or >= 2"),
    ("--cell=lstm2", "--cell must be one of lstm, gru, rnn"),
    ("--progress=dots", "--progress must be one of auto, bar, lines"),
    ("--strategy=tpu", "--strategy must be one of default, mirrored"),
    ("--num_gpus=-1", "--num_gpus must be >= 0"),
    ("--num_gpus=2 --jit_compile", "--jit_compile is for one device"),
    ("--cell=gru --rnn_mode=block", "--rnn_mode=block runs LSTM cells only"),
    ("--dropout=zoneout", "--dropout must be one of standard, variational"),
    ("--embedding_dropout=1", "--embedding_dropout must be in [0, 1)"),
    ("--softmax=hierarchical", "--softmax must be one of full, sampled"),
    ("--num_sampled=0", "--num_sampled must be a whole number >= 1"),
    ("--softmax=sampled --num_sampled=5000",
     "--num_sampled=5000 must be below the vocabulary size"),
])
def test_bad_flag_values_are_usage_errors(tiny_corpus_path, flag, fragment):
    """In this process: the checks train runs before TensorFlow starts."""
    flag_values = flags.FlagValues()
    train.define_flags(flag_values)
    flag_values(["train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                 *flag.split(" ")])
    with pytest.raises(UsageError) as raised:
        train.check_flags(flag_values)
    assert fragment in str(raised.value)


@pytest.mark.parametrize("flag, fragment", [
    ("--keep_prob=0", "--keep_prob must be in (0, 1]"),
    ("--rnn_mode=fused", "--rnn_mode must be one of auto, keras, unrolled, block"),
    ("--level=byte", "--level must be word or char"),
])
def test_a_bad_flag_value_is_one_line_and_exit_2(tiny_corpus_path, flag,
                                                  fragment):
    result = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                        flag, fresh=True)
    assert_user_error(result, fragment)
    assert result.returncode == 2


def test_missing_data_path_and_folder(tmp_path):
    # No data flag: PTB from the cache folder, downloaded first; here from a
    # port where nothing listens.
    result = run_module("train", *TINY_FLAGS,
                        "--download_url=http://127.0.0.1:9/simple-examples.tgz",
                        env=dict(os.environ, PTB_TF_CACHE=str(tmp_path / "cache")),
                        fresh=True)
    assert_user_error(result, "download of http://127.0.0.1:9/", "run again")
    assert os.listdir(tmp_path / "cache" / "ptb") == []
    assert_user_error(run_module("train", f"--data_path={tmp_path}/none",
                                 *TINY_FLAGS, fresh=True),
                      "data folder not found")


def test_vocab_size_that_does_not_match_the_data(tiny_corpus_path):
    result = run_module("train", f"--data_path={tiny_corpus_path}", "--model=test",
                        fresh=True)
    assert_user_error(result, "gives 12 words but --vocab_size=10000",
                      "--vocab_size=12")


def test_unwritable_save_path(tiny_corpus_path, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    result = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                        f"--save_path={a_file}", fresh=True)
    assert_user_error(result, "is a file, not a folder")
    result = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                        f"--save_path={a_file}/below", fresh=True)
    assert_user_error(result, "cannot create --save_path")
    assert a_file.read_text() == "mine"


@pytest.mark.slow
def test_run_resume_and_refusal_of_another_config(tiny_corpus_path, tmp_path):
    save_path = tmp_path / "run"
    results_file = tmp_path / "results.json"
    first = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                       f"--save_path={save_path}",
                      f"--results_file={results_file}")
    assert first.returncode == 0, first.stderr
    for line in ("Epoch: 1 Learning rate: 1.000", "Epoch: 2 Learning rate: 0.500",
                 "Epoch: 2 Train Perplexity:", "Epoch: 2 Valid Perplexity:",
                 "Test Perplexity:"):
        assert line in first.stdout
    assert sum(" perplexity: " in line and " wps" in line
               for line in first.stdout.splitlines()) >= 10
    for name in ("vocab.txt", "config.json", "checkpoint", "results.json"):
        assert (save_path / name).exists(), name
    results = json.loads(results_file.read_text())
    assert len(results["epochs"]) == 2
    assert results["command"].startswith("python -m ptb_tf.train --data_path=")

    # The same command again finds the finished run and only re-tests it.
    again = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                       f"--save_path={save_path}")
    assert again.returncode == 0, again.stderr
    assert "Resuming from" in again.stdout
    assert "all 2 epochs done" in again.stdout
    assert "Learning rate" not in again.stdout
    assert json.loads((save_path / "results.json").read_text())[
        "test_perplexity"] == pytest.approx(results["test_perplexity"], rel=1e-6)

    # More epochs is another config: refused, and the run is left as it was.
    config_before = (save_path / "config.json").read_text()
    other = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                       "--hidden_size=5", f"--save_path={save_path}", fresh=True)
    assert_user_error(other, "holds a model with another config",
                      "hidden_size 4 -> 5")
    assert (save_path / "config.json").read_text() == config_before


@pytest.mark.slow
def test_save_path_with_another_vocabulary(tiny_corpus_path, tmp_path):
    save_path = tmp_path / "run"
    assert run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                      "--max_max_epoch=1", f"--save_path={save_path}"
                     ).returncode == 0
    # Same number of words, other words.
    other = write_corpus(tmp_path / "other",
                         train=open(f"{tiny_corpus_path}/ptb.train.txt").read()
                         .replace("zebra", "x").replace("cat", "cow"))
    result = run_module("train", f"--data_path={other}", *TINY_FLAGS,
                        "--max_max_epoch=1", f"--save_path={save_path}", fresh=True)
    assert_user_error(result, "holds a model with another vocabulary")


@pytest.mark.slow
def test_char_level_run_on_one_compressed_text_file(tmp_path):
    import gzip  # pylint: disable=g-import-not-at-top
    path = tmp_path / "lyrics.txt.gz"
    with gzip.open(path, "wb") as compressed:
        compressed.write(("想要有直升机\n想要和你飞到宇宙去\n" * 40).encode("utf-8"))
    result = run_module("train", f"--text_file={path}", "--level=char", *TINY_FLAGS,
                        f"--save_path={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Test Perplexity:" in result.stdout
    words = (tmp_path / "run" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert "宇" in words and "<eos>" in words
    # Export, then generate and score characters from the run and the export.
    export = run_module("export", f"--save_path={tmp_path / 'run'}",
                        f"--export_dir={tmp_path / 'export'}")
    assert export.returncode == 0, export.stderr[-2000:]
    metadata = json.loads((tmp_path / "export" / "1" / "assets.extra" /
                           "ptb_tf.json").read_text())
    assert metadata["level"] == "char" and "limits" in metadata
    for source in (f"--save_path={tmp_path / 'run'}",
                   f"--saved_model={tmp_path / 'export'}"):
        generated = run_module("generate", source, "--prefix=想要",
                               "--num_words=6", "--seed=1")
        assert generated.returncode == 0, generated.stderr[-2000:]
        log_prob, text = generated.stdout.split("\t", 1)
        assert float(log_prob) < 0
        # Six characters (a line break for each <eos>), no spaces between.
        assert text.startswith("想要") and len(text.rstrip("\n")) <= 8
        assert " " not in text
        scored = run_module("score", source, "--input=-", stdin="想要和你\n")
        assert scored.returncode == 0, scored.stderr[-2000:]
        assert scored.stdout.splitlines()[0].split("\t")[1] == "5"  # 4 + <eos>


def test_a_results_file_that_is_a_folder_is_refused_before_training(
        tiny_corpus_path, tmp_path):
    result = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                        f"--results_file={tmp_path}",
                       f"--save_path={tmp_path / 'run'}", fresh=True)
    assert_user_error(result, f"--results_file={tmp_path} is a folder")
    assert result.returncode == 1
    assert not (tmp_path / "run").exists()  # refused before the run folder


@pytest.mark.parametrize("given, became", [
    ("--rnn_mode=BASIC", "--rnn_mode=unrolled"),
    ("--rnn_mode=cudnn", "--rnn_mode=keras"),
    ("--rnn_mode=Block", "--rnn_mode=block"),
])
def test_the_tutorials_rnn_modes_are_understood(tiny_corpus_path, given,
                                                 became, capsys):
    flag_values = flags.FlagValues()
    train.define_flags(flag_values)
    flag_values(["train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS, given])
    _, options, _ = train.check_flags(flag_values)
    assert options.rnn_mode == became.split("=")[1]
    assert capsys.readouterr().out == (
        f"{given} (the tutorial's): running {became}\n")


def test_use_fp16_is_mixed_float16_and_says_so(tiny_corpus_path, capsys):
    flag_values = flags.FlagValues()
    train.define_flags(flag_values)
    flag_values(["train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                 "--use_fp16"])
    _, options, _ = train.check_flags(flag_values)
    assert options.precision == "mixed_float16"
    assert capsys.readouterr().out.startswith(
        "--use_fp16 (the tutorial's): training with --precision=mixed_float16")
    flag_values(["train", "--precision=mixed_bfloat16"])
    with pytest.raises(UsageError, match="--use_fp16 means "
                                         "--precision=mixed_float16; drop one"):
        train.check_flags(flag_values)


@pytest.mark.slow
def test_a_run_without_save_path_warns_first_that_it_keeps_nothing(
        tiny_corpus_path):
    # fresh: first means before TensorFlow's start-up lines.
    result = run_module("train", f"--data_path={tiny_corpus_path}", *TINY_FLAGS,
                        "--max_max_epoch=1", "--use_fp16", "--rnn_mode=BASIC",
                        fresh=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.splitlines()[0].startswith(
        "warning: no --save_path: this run keeps nothing")
    assert result.stdout.splitlines()[:2] == [
        "--rnn_mode=BASIC (the tutorial's): running --rnn_mode=unrolled",
        "--use_fp16 (the tutorial's): training with --precision=mixed_float16 "
        "(float16 matmuls on float32 weights, with loss scaling; the tutorial "
        "kept float16 weights)"]
