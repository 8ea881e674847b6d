"""Serving limits: every size a request controls is bounded, checked before it
is allocated, and a refused request leaves the server answering."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from ptb_tf.serving import scoring
from ptb_tf.errors import UsageError
from ptb_tf.serving import export_layout
from ptb_tf.serving import saved_model
from ptb_tf.serving.limits import Limits


LIMITS = Limits(max_batch_size=3, max_sequence_length=4, max_num_words=5)


@pytest.fixture(scope="module")
def limited(trained, tmp_path_factory):
    """The tiny model exported with LIMITS; its signatures and vocab size."""
    path = saved_model.export(trained["save_path"],
                              str(tmp_path_factory.mktemp("limited") / "tiny"),
                              next_words=3, limits=LIMITS)
    return dict(path=path, sig=tf.saved_model.load(path).signatures,
                vocab_size=len(trained["vocab"]))


def words(batch, length):
    return tf.fill([batch, length], "the")


def state_for(sig, batch):
    return sig["zero_state"](batch_size=tf.constant(batch))["state"]


def generate(sig, prefix, num_words=2, top_k=0):
    return sig["generate"](prefix=prefix, num_words=tf.constant(num_words),
                           temperature=tf.constant(1.0),
                           top_k=tf.constant(top_k),
                           seed=tf.constant(1, tf.int64))


# (signature, limit, call(sig, vocab_size, size)): size at the limit works,
# one past it is refused with a message that names the input and the limit.
CASES = [
    ("serving_default", "max_batch_size",
     lambda sig, v, n: sig["serving_default"](words=words(n, 1))),
    ("serving_default", "max_sequence_length",
     lambda sig, v, n: sig["serving_default"](words=words(1, n))),
    ("score", "max_batch_size", lambda sig, v, n: sig["score"](words=words(n, 2))),
    ("score", "max_sequence_length",
     lambda sig, v, n: sig["score"](words=words(2, n))),
    ("score_from_state", "max_batch_size",
     lambda sig, v, n: sig["score_from_state"](words=words(n, 1),
                                               state=tf.zeros([2, 2, n, 8]))),
    ("score_from_state", "max_sequence_length",
     lambda sig, v, n: sig["score_from_state"](words=words(1, n),
                                               state=state_for(sig, 1))),
    ("step", "max_batch_size",
     lambda sig, v, n: sig["step"](words=tf.fill([n], "the"),
                                   state=tf.zeros([2, 2, n, 8]))),
    ("step_ids", "max_batch_size",
     lambda sig, v, n: sig["step_ids"](ids=tf.zeros([n], tf.int32),
                                       state=tf.zeros([2, 2, n, 8]))),
    ("ids_to_words", "max_batch_size",
     lambda sig, v, n: sig["ids_to_words"](ids=tf.zeros([n, 1], tf.int32))),
    ("ids_to_words", "max_sequence_length",
     lambda sig, v, n: sig["ids_to_words"](ids=tf.zeros([1, n], tf.int32))),
    ("zero_state", "max_batch_size",
     lambda sig, v, n: sig["zero_state"](batch_size=tf.constant(n))),
    ("start_state", "max_batch_size",
     lambda sig, v, n: sig["start_state"](batch_size=tf.constant(n))),
    ("generate", "max_batch_size",
     lambda sig, v, n: generate(sig, words(n, 1))),
    ("generate", "max_sequence_length",
     lambda sig, v, n: generate(sig, words(1, n))),
    ("generate", "max_num_words",
     lambda sig, v, n: generate(sig, words(1, 1), num_words=n)),
    ("generate", "vocab_size",
     lambda sig, v, n: generate(sig, words(1, 1), top_k=n)),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,limit,call", CASES,
                         ids=[f"{name}-{limit}" for name, limit, _ in CASES])
def test_a_request_at_the_limit_works_and_one_past_it_is_refused(
        limited, name, limit, call):
    del name  # in the test id
    sig, vocab_size = limited["sig"], limited["vocab_size"]
    at_limit = vocab_size if limit == "vocab_size" else getattr(LIMITS, limit)
    result = call(sig, vocab_size, at_limit)
    assert all(np.all(np.isfinite(value.numpy())) for value in result.values()
               if value.dtype.is_floating)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"must be <= {at_limit}"):
        call(sig, vocab_size, at_limit + 1)


def test_limits_are_in_the_export_metadata(limited, trained):
    assert export_layout.read_metadata(limited["path"])["limits"] == LIMITS.to_dict()
    # The default export carries the defaults.
    assert export_layout.read_metadata(trained["path"])["limits"] == \
        Limits().to_dict()


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_a_bad_limit_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="must be a whole number >= 1"):
        Limits(max_batch_size=bad)


def test_an_old_export_without_limits_reads_as_the_defaults():
    assert Limits.from_dict({}) == Limits()
    assert Limits.from_dict({"max_num_words": 7, "later_field": 1}) == \
        Limits(max_num_words=7)


def test_long_text_in_pieces_scores_as_one_request(trained):
    """score cuts a text over max_sequence_length into pieces, state carried:
    the same numbers as one long request."""
    from ptb_tf.serving.source import ModelSource  # pylint: disable=import-outside-toplevel
    sig = ModelSource(saved_model=trained["path"]).signatures()
    rows = [line.split() + ["<eos>"] for line in (
        "the cat sat on the mat and the dog saw the log", "a dog",
        "the cat sat on the mat")]
    whole = scoring.Scorer(sig, limits=Limits(max_sequence_length=200))
    pieces = scoring.Scorer(sig, limits=Limits(max_sequence_length=3))
    np.testing.assert_allclose(pieces.stream(rows), whole.stream(rows),
                               rtol=1e-5)
    np.testing.assert_allclose(pieces.independent(rows),
                               whole.independent(rows), rtol=1e-5)


WORST_REQUESTS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    sig = tf.saved_model.load(sys.argv[1]).signatures

    def generate(prefix, num_words=3, top_k=0, temperature=1.0):
        return sig["generate"](prefix=prefix, num_words=tf.constant(num_words),
                               temperature=tf.constant(temperature),
                               top_k=tf.constant(top_k),
                               seed=tf.constant(1, tf.int64))

    state1 = sig["zero_state"](batch_size=tf.constant(1))["state"]
    worst = {
        "generate num_words=10**9": lambda: generate(tf.constant([["the"]]),
                                                    num_words=10**9),
        "generate top_k=10**9": lambda: generate(tf.constant([["the"]]),
                                                top_k=10**9),
        "generate batch 10**6": lambda: generate(tf.fill([10**6, 1], "the")),
        "zero_state batch_size=10**9":
            lambda: sig["zero_state"](batch_size=tf.constant(10**9)),
        "start_state batch_size=10**9":
            lambda: sig["start_state"](batch_size=tf.constant(10**9)),
        "score 2,000,000 words in one row":
            lambda: sig["score"](words=tf.fill([1, 2_000_000], "the")),
        "score batch 10**6": lambda: sig["score"](words=tf.fill([10**6, 1],
                                                                "the")),
        "step_ids batch 10**7": lambda: sig["step_ids"](
            ids=tf.zeros([10**7], tf.int32), state=state1),
        "step_ids id out of range": lambda: sig["step_ids"](
            ids=tf.constant([10**6]), state=state1),
        "ids_to_words negative id": lambda: sig["ids_to_words"](
            ids=tf.constant([[-5]])),
        "score empty": lambda: sig["score"](words=tf.zeros([0, 0], tf.string)),
        "step empty": lambda: sig["step"](words=tf.zeros([0], tf.string),
                                          state=state1),
        "step state of another batch size": lambda: sig["step"](
            words=tf.constant(["the", "cat"]), state=state1),
        "generate temperature nan": lambda: generate(
            tf.constant([["the"]]), temperature=float("nan")),
    }
    refused = {}
    for name, call in worst.items():
        try:
            call()
            refused[name] = "answered"
        except tf.errors.InvalidArgumentError as error:
            refused[name] = error.message
    good = sig["score"](words=tf.constant([["the", "cat", "sat"]]))
    print(json.dumps({
        "refused": refused,
        "good": good["token_log_probabilities"].numpy().tolist(),
    }))
""")


@pytest.mark.slow
def test_worst_requests_are_refused_and_the_process_keeps_serving(trained):
    # Memory capped at 4 GiB, so that a check that ran too late shows as a
    # failure (ResourceExhausted or a killed child) instead of a full machine.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.run(
        [sys.executable, "-c",
         "import resource; resource.setrlimit(resource.RLIMIT_AS, "
         "(4 << 30, 4 << 30)); exec(open(0).read())", trained["path"]],
        input=WORST_REQUESTS, capture_output=True, text=True, env=env,
        timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.splitlines()[-1])
    limits = Limits()
    for name, message in report["refused"].items():
        assert message != "answered", name
    expected = {
        "generate num_words=10**9": f"num_words must be <= {limits.max_num_words}",
        "generate top_k=10**9": "top_k (the vocabulary size) must be <=",
        "generate batch 10**6": f"must be <= {limits.max_batch_size}",
        "zero_state batch_size=10**9": f"batch_size must be <= {limits.max_batch_size}",
        "start_state batch_size=10**9": f"batch_size must be <= {limits.max_batch_size}",
        "score 2,000,000 words in one row":
            f"must be <= {limits.max_sequence_length}",
        "score batch 10**6": f"must be <= {limits.max_batch_size}",
        "step_ids batch 10**7": f"must be <= {limits.max_batch_size}",
        "step_ids id out of range": "ids must be < the vocabulary size",
        "ids_to_words negative id": "ids must be >= 0",
        "score empty": "words is empty",
        "step empty": "words is empty",
        "step state of another batch size": "state has another batch size",
        "generate temperature nan": "temperature must be > 0",
    }
    for name, fragment in expected.items():
        assert fragment in report["refused"][name], (name, report["refused"])
    sig = tf.saved_model.load(trained["path"]).signatures
    np.testing.assert_allclose(
        report["good"],
        sig["score"](words=tf.constant([["the", "cat", "sat"]]))
        ["token_log_probabilities"].numpy(), atol=1e-6)
