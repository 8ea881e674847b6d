"""Every command's own checks, run in this process: a bad flag value is a
UsageError (exit 2), a missing file a UserError (exit 1), both before the
command needs TensorFlow. (tests/cli/test_train_cli.py pins the one-line,
exit-code contract end to end; these cover each command's checks quickly.)"""

import importlib

from absl import flags
import pytest

from ptb_tf.errors import UsageError, UserError

CASES = [
    ("export", [], UsageError, "--save_path is required"),
    ("export", ["--save_path=x", "--export_dir=y", "--checkpoint=worst"],
     UsageError, "--checkpoint must be one of best, latest"),
    ("export", ["--save_path=x", "--export_dir=y", "--quantize"], UsageError,
     "--quantize needs --format=tflite"),
    ("export", ["--save_path=x", "--export_dir=y", "--next_words=0"],
     UsageError, "--next_words must be >= 1"),
    ("export", ["--save_path=x", "--export_dir=y", "--max_batch_size=0"],
     UsageError, "max_batch_size"),
    ("export", ["--save_path={missing}", "--export_dir=y"], UserError,
     "not found"),
    ("ngram", [], UsageError, "--data_path is required"),
    ("ngram", ["--data_path={data}", "--order=0"], UsageError,
     "--order must be >= 1"),
    ("ngram", ["--text_file={data}/ptb.train.txt", "--level=byte"],
     UsageError, "--level must be word or char"),
    ("soak", ["--data_path={data}", "--epochs=2"], UsageError,
     "--epochs must be >= 3 (memory is compared"),
    ("soak", ["--data_path={data}", "--rnn_mode=block", "--jit_compile"],
     UsageError, "XLA has no kernel"),
    ("benchmark", [], UsageError, "--data_path is required"),
    ("benchmark", ["--data_path={data}", "--variants=keras+fast"], UsageError,
     "--variants must be keras, unrolled or block"),
    ("benchmark", ["--data_path={data}", "--configs=huge"], UsageError,
     "--configs must name configs of small"),
    ("serving_benchmark", ["--configs=huge"], UsageError, "unknown config huge"),
    ("serving_benchmark", ["--save_path=x", "--configs=small,medium"],
     UsageError, "--save_path measures one run"),
    ("serving_benchmark", ["--steps=5"], UsageError, "--steps must be >= 100"),
    ("sampled_benchmark", ["--epochs=0"], UsageError, "--epochs must be >= 1"),
    ("data", ["download", "--sha256=xyz"], UsageError,
     "--sha256 must be 64 hexadecimal digits"),
    ("data", ["fetch"], UsageError, "usage: python -m ptb_tf.data download"),
    ("generate", [], UsageError, "pass exactly one of --saved_model"),
    ("generate", ["--saved_model={missing}"], UserError, "is not a SavedModel"),
    ("score", ["--save_path={missing}"], UserError, "not found"),
    ("score", ["--saved_model=a", "--save_path=b"], UsageError,
     "pass exactly one of"),
    ("embeddings", [], UsageError, "pass exactly one of --saved_model"),
    ("embeddings", ["--save_path={missing}", "--checkpoint=worst"],
     UsageError, "--checkpoint must be one of best, latest"),
    ("train", ["--data_path={data}", "--checkpoint_every=-1"], UsageError,
     "--checkpoint_every must be >= 0"),
    ("train", ["--data_path={data}", "--on_nan=restore"], UsageError,
     "--on_nan=restore needs --save_path"),
]


def run_main(name, argv, monkeypatch):
    """The command's main on its own flags, parsed from argv."""
    module = importlib.import_module(f"ptb_tf.{name}")
    flag_values = flags.FlagValues()
    module.define_flags(flag_values)
    rest = flag_values([name, *argv])
    monkeypatch.setattr(module, "FLAGS", flag_values)
    module.main(rest)


@pytest.mark.parametrize("name, argv, error, fragment", CASES)
def test_a_bad_flag_is_refused_before_tensorflow(name, argv, error, fragment,
                                                 tiny_corpus_path, tmp_path,
                                                 monkeypatch):
    argv = [arg.format(data=tiny_corpus_path, missing=tmp_path / "missing")
            for arg in argv]
    with pytest.raises(error) as raised:
        run_main(name, argv, monkeypatch)
    assert fragment in str(raised.value)
    assert raised.value.exit_code == (2 if error is UsageError else 1)
