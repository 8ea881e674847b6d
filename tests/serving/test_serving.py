"""Export: signatures against the Keras model, fresh-process reload, TF Serving's loader."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from tests.helpers import run_python

from ptb_tf import run_dir
from ptb_tf.config import PRESETS
from ptb_tf.errors import UserError
from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.serving import export_layout
from ptb_tf.serving import saved_model
from ptb_tf.serving.module import ServingModule


SENTENCES = [["the", "cat", "sat", "on", "the", "mat"],
             ["a", "dog", "", "", "", ""],
             ["zebra", "saw", "the", "log", "<eos>", ""]]


def keras_log_probs(model, vocab, words):
    """Reference: log P(word_t | <eos>, words before t) from the Keras model."""
    ids = vocab.encode(["<eos>"] + words)
    logits, _ = model(ids[None, :])
    log_probs = tf.nn.log_softmax(logits[0]).numpy()
    return log_probs  # row t: distribution of the word after ids[t]


@pytest.mark.slow
def test_export_layout_version_and_no_overwrite(trained):
    assert trained["path"] == os.path.join(trained["export_dir"], "1")
    assert os.path.isfile(os.path.join(trained["path"], "saved_model.pb"))
    assert open(os.path.join(trained["path"], "assets", "vocab.txt")).read() == \
        open(trained["vocab_path"]).read()
    before = {name: os.path.getmtime(os.path.join(trained["path"], name))
              for name in ("saved_model.pb", "fingerprint.pb")}
    second = saved_model.export(trained["save_path"], trained["export_dir"], 3)
    assert second == os.path.join(trained["export_dir"], "2")
    assert export_layout.versions(trained["export_dir"]) == [1, 2]
    assert before == {name: os.path.getmtime(os.path.join(trained["path"], name))
                      for name in before}
    assert export_layout.resolve_saved_model(trained["export_dir"]) == second
    # Readable by a server running as another user.
    for root, _, names in os.walk(second):
        for name in names:
            assert os.stat(os.path.join(root, name)).st_mode & 0o044 == 0o044


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_interrupted_export_leaves_no_version_folder(tmp_path, interruption):
    export_dir = tmp_path / "model"
    (export_dir / "1").mkdir(parents=True)

    def write_half(folder):
        with open(os.path.join(folder, "saved_model.pb"), "w") as half:
            half.write("half")
        raise interruption()

    with pytest.raises(interruption):
        export_layout.write_version(str(export_dir), write_half)
    assert sorted(os.listdir(export_dir)) == ["1"]  # no 2, no temporary folder


FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    sig = loaded.signatures
    words = tf.constant(json.loads(sys.argv[2]))
    out = {}
    for name, result in [
            ("score", sig["score"](words=words)),
            ("serving_default", sig["serving_default"](words=words)),
            ("score1", sig["score"](words=words[:1])),
            ("generate", sig["generate"](prefix=words, num_words=tf.constant(5),
                temperature=tf.constant(1.0), top_k=tf.constant(1),
                seed=tf.constant(0, tf.int64))),
            ("sample_a", sig["generate"](prefix=words, num_words=tf.constant(6),
                temperature=tf.constant(1.3), top_k=tf.constant(0),
                seed=tf.constant(42, tf.int64))),
            ("sample_b", sig["generate"](prefix=words, num_words=tf.constant(6),
                temperature=tf.constant(1.3), top_k=tf.constant(0),
                seed=tf.constant(42, tf.int64)))]:
        for key, value in result.items():
            value = value.numpy()
            if value.dtype == object:
                value = np.char.decode(value.astype(bytes), "utf-8")
            out[f"{name}/{key}"] = value
    # One word at a time through step, from the sentence-start state.
    state = sig["start_state"](batch_size=tf.constant(1))["state"]
    for word in json.loads(sys.argv[2])[0]:
        result = sig["step"](words=tf.constant([word]), state=state)
        state = result["state"]
        out.setdefault("step/log_probabilities", []).append(
            result["log_probabilities"].numpy()[0])
    out["step/log_probabilities"] = np.stack(out["step/log_probabilities"])
    out["zero_state/state"] = sig["zero_state"](batch_size=tf.constant(3))["state"].numpy()
    out["modules"] = np.array(sorted(m for m in sys.modules
                                     if m.split(".")[0] in ("ptb_tf", "keras")))
    np.savez(sys.argv[3], **out)
""")


@pytest.mark.slow
def test_fresh_process_reload_matches_the_keras_model(trained, tmp_path):
    script = tmp_path / "load.py"
    script.write_text(FRESH_PROCESS)
    output = tmp_path / "out.npz"
    result = subprocess.run(
        [sys.executable, str(script), trained["path"], json.dumps(SENTENCES),
         str(output)], capture_output=True, text=True, timeout=300,
        cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    out = dict(np.load(output))
    assert not [m for m in out["modules"] if m.startswith("ptb_tf")]
    model, vocab = trained["model"], trained["vocab"]

    for row, sentence in enumerate(SENTENCES):
        words = [word for word in sentence if word]
        log_probs = keras_log_probs(model, vocab, words)
        expected = [log_probs[t, vocab.encode([word])[0]]
                    for t, word in enumerate(words)]
        got = out["score/token_log_probabilities"][row]
        np.testing.assert_allclose(got[:len(words)], expected, atol=1e-5)
        assert (got[len(words):] == 0).all()
        assert out["score/num_tokens"][row] == len(words)
        np.testing.assert_allclose(out["score/log_probability"][row],
                                   sum(expected), atol=1e-4)
        np.testing.assert_allclose(out["score/perplexity"][row],
                                   np.exp(-np.mean(expected)), rtol=1e-5)
        # serving_default: the top 3 words after the whole sequence.
        last = log_probs[len(words)]
        top = np.argsort(-last, kind="stable")[:3]
        assert list(out["serving_default/top_words"][row]) == vocab.decode(top)
        np.testing.assert_allclose(out["serving_default/top_probabilities"][row],
                                   np.exp(last[top]), atol=1e-5)
        # generate with top_k=1: greedy continuation, checked word by word.
        context = list(words)
        for generated in out["generate/words"][row]:
            next_log_probs = keras_log_probs(model, vocab, context)[len(context)]
            assert generated == vocab.words[int(np.argmax(next_log_probs))]
            context.append(generated)

    # Batch size 1 gives the row of batch size 3.
    np.testing.assert_allclose(out["score1/token_log_probabilities"][0],
                               out["score/token_log_probabilities"][0],
                               atol=1e-5)
    # step, one word at a time, gives score's log-probabilities.
    first = SENTENCES[0]
    ids = vocab.encode(first)
    stepped = [out["step/log_probabilities"][t][ids[t + 1]]
               for t in range(len(first) - 1)]
    np.testing.assert_allclose(stepped,
                               out["score/token_log_probabilities"][0][1:],
                               atol=1e-5)
    # Same seed, same sample.
    np.testing.assert_array_equal(out["sample_a/words"], out["sample_b/words"])
    assert out["zero_state/state"].shape == (2, 2, 3, 8)
    assert not out["zero_state/state"].any()


def run_cli(*args):
    """TensorFlow's `saved_model_cli ARGS` (its console script runs this module)."""
    return run_python("-m", "tensorflow.python.tools.saved_model_cli", *args)


@pytest.mark.slow
def test_saved_model_cli_shows_every_signature_and_runs_three(trained,
                                                               tmp_path):
    """TensorFlow's own tool: every signature listed; the three whose inputs
    are the hardest to give from outside Python (a state file, a batch of
    words, the generate arguments) run. Each run starts TensorFlow anew, so
    the others are left to the in-process and C-API tests."""
    path = trained["path"]
    shown = run_cli("show", "--dir", path, "--all")
    assert shown.returncode == 0, shown.stderr[-2000:]
    names = ("serving_default", "score", "score_from_state", "step", "step_ids",
             "ids_to_words", "zero_state", "start_state", "generate")
    for name in names:
        assert f"signature_def['{name}']" in shown.stdout
    state = tmp_path / "state.npy"
    np.save(state, np.zeros([2, 2, 1, 8], np.float32))
    calls = {
        "score_from_state": ["--input_exprs", 'words=[["the","cat"]]',
                             "--inputs", f"state={state}"],
        "step": ["--input_exprs", 'words=["the"]', "--inputs", f"state={state}"],
        "generate": ["--input_exprs", 'prefix=[["the"]];num_words=4;'
                     "temperature=1.0;top_k=0;seed=1"],
    }
    for name, inputs in calls.items():
        ran = run_cli("run", "--dir", path, "--tag_set", "serve",
                      "--signature_def", name, *inputs)
        assert ran.returncode == 0, (name, ran.stderr[-2000:])
        assert "Result for output key" in ran.stdout, name


def test_bad_inputs_to_signatures_say_what_is_wrong(trained):
    sig = tf.saved_model.load(trained["path"]).signatures
    state = sig["zero_state"](batch_size=tf.constant(1))["state"]

    def generate(prefix=(("the",),), num_words=3, temperature=1.0):
        return sig["generate"](prefix=tf.constant(prefix),
                               num_words=tf.constant(num_words),
                               temperature=tf.constant(temperature),
                               top_k=tf.constant(0),
                               seed=tf.constant(0, tf.int64))

    bad_calls = [
        (lambda: sig["score"](words=tf.zeros([1, 0], tf.string)), "words is empty"),
        (lambda: sig["score"](words=tf.constant([["", ""]])),
         "a sequence of .* has no words"),
        (lambda: sig["serving_default"](words=tf.constant([["the"], [""]])),
         "a sequence of .* has no words"),
        (lambda: generate(num_words=1001), "num_words must be <= 1000"),
        (lambda: generate(prefix=[[""]]), "a sequence of .* has no words"),
        (lambda: generate(temperature=0.0), "temperature must be > 0"),
        (lambda: sig["step_ids"](ids=tf.constant([len(trained["vocab"])]),
                                 state=state), "ids must be < the vocabulary"),
        (lambda: sig["step_ids"](ids=tf.constant([-1]), state=state),
         "ids must be >= 0"),
        (lambda: sig["ids_to_words"](ids=tf.constant([[99999]])),
         "ids must be < the vocabulary"),
        (lambda: sig["step"](words=tf.constant(["the", "cat"]), state=state),
         "state has another batch size"),
        (lambda: sig["step"](words=tf.constant([], tf.string), state=state),
         "words is empty"),
    ]
    for call, message in bad_calls:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call()
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        sig["step"](words=tf.constant(["the"]), state=tf.zeros([2, 2, 1, 7]))


@pytest.mark.slow
def test_saved_model_stores_each_weight_once():
    """The small config's SavedModel is at most 1.1x its weights."""
    config = PRESETS["small"]
    model = PTBModel(config.vocab_size, config.hidden_size, config.num_layers)
    model(tf.zeros([1, 1], tf.int32))
    weight_bytes = sum(weight.numpy().nbytes for weight in model.weights)
    import tempfile  # pylint: disable=import-outside-toplevel
    with tempfile.TemporaryDirectory() as folder:
        vocab_path = os.path.join(folder, "vocab.txt")
        with open(vocab_path, "w") as vocab_file:
            vocab_file.write("".join(f"w{i}\n" for i in range(9998)) +
                             "<unk>\n<eos>\n")
        module = ServingModule(model, vocab_path)
        path = export_layout.write_version(
            os.path.join(folder, "exports"),
            lambda out: tf.saved_model.save(module, out,
                                            signatures=module.signatures()))
        size = sum(os.path.getsize(os.path.join(root, name))
                   for root, _, names in os.walk(path) for name in names)
        stored = tf.train.list_variables(os.path.join(path, "variables",
                                                      "variables"))
    assert size <= 1.1 * weight_bytes, (size, weight_bytes)
    stored_elements = sum(int(np.prod(shape)) for name, shape in stored
                          if "VARIABLE_VALUE" in name and "table" not in name)
    assert stored_elements == sum(int(np.prod(w.shape)) for w in model.weights)


def test_export_of_a_folder_without_a_model(tmp_path):
    with pytest.raises(UserError, match="holds no trained model"):
        run_dir.load_run(str(tmp_path))
    with pytest.raises(UserError, match="is not a SavedModel"):
        export_layout.resolve_saved_model(str(tmp_path))
