r"""Generates text from a trained model: `python -m ptb_tf.generate`.

    python -m ptb_tf.generate --saved_model=saved_models/ptb_small \
        --prefix="the company said" --num_words=20 --seed=1
    python -m ptb_tf.generate --save_path=/tmp/ptb_small --prefix="the" --greedy
    python -m ptb_tf.generate --save_path=/tmp/ptb_small --prefix="the" \
        --beam_width=5 --num_words=8

A character-level model (trained with --level=char) continues a prefix of
characters. Sampling runs inside the SavedModel's `generate` signature; beam search drives
its `step_ids` signature. Log-probabilities are natural logarithms of the
continuation given the prefix.
"""

from absl import flags
import numpy as np

from ptb_tf import cli
from ptb_tf.corpus.text import join_tokens, split_tokens
from ptb_tf.errors import UsageError


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    cli.define_model_source_flags(flag_values, tflite=True)
    flags.DEFINE_string("prefix", None, "Words to continue (at least one).",
                        flag_values=flag_values)
    flags.DEFINE_integer("num_words", 20,
                         "Words to generate (1 to the model's max_num_words, "
                         "1000 by default).",
                         flag_values=flag_values)
    flags.DEFINE_float("temperature", 1.0,
                       "Divides the logits: below 1 sharper, above 1 flatter.",
                       flag_values=flag_values)
    flags.DEFINE_integer("top_k", 0,
                         "Sample only from the k most probable words (0: all).",
                         flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "Same seed, same text.",
                         flag_values=flag_values)
    flags.DEFINE_integer("num_samples", 1, "Independent samples to draw.",
                         flag_values=flag_values)
    flags.DEFINE_bool("greedy", False, "Always take the most probable word.",
                      flag_values=flag_values)
    flags.DEFINE_integer("beam_width", 0,
                         "Beam search: print the best K continuations "
                         "(0: sample instead).", flag_values=flag_values)


def check_flags(flag_values: flags.FlagValues):
    """Returns the prefix tokens, the model's level ("word" or "char") and
    its ModelSource,
    or raises UsageError naming the bad flag. Sizes are checked against the
    model's serving limits, so that no request is refused later."""
    source = cli.model_source(flag_values)
    level, limits = source.level, source.limits
    prefix = split_tokens(
        cli.check_utf8("prefix", flag_values.prefix or ""), level)
    if not prefix or (level == "char" and not "".join(prefix).strip()):
        raise UsageError("--prefix needs at least one word to continue")
    if len(prefix) > limits.max_sequence_length:
        raise UsageError(f"--prefix has {len(prefix)} tokens; this model takes "
                         f"at most {limits.max_sequence_length} per request "
                         "(its max_sequence_length): shorten the prefix")
    if not 1 <= flag_values.num_words <= limits.max_num_words:
        raise UsageError(f"--num_words must be from 1 to {limits.max_num_words} "
                         "(this model's max_num_words). "
                         f"Received: num_words={flag_values.num_words}")
    if not flag_values.temperature > 0:
        raise UsageError("--temperature must be > 0. "
                         f"Received: temperature={flag_values.temperature}")
    cli.check_min(flag_values, 0, "top_k", "beam_width")
    cli.check_min(flag_values, 1, "num_samples")
    for name in ("num_samples", "beam_width"):
        if flag_values[name].value > limits.max_batch_size:
            raise UsageError(f"--{name} must be <= {limits.max_batch_size} "
                             "(this model's max_batch_size). "
                             f"Received: {name}={flag_values[name].value}")
    return prefix, level, source


def state_after(signatures, words):
    """Feeds words from a sentence start; returns (next log-probs [1, V], state)."""
    state = signatures["start_state"](batch_size=1)["state"]
    if len(words) > 1:
        state = signatures["score_from_state"](
            words=[words[:-1]], state=state)["state"]
    result = signatures["step"](words=words[-1:], state=state)
    return result["log_probabilities"], result["state"]


def beam_search(signatures, prefix, beam_width, num_words):
    """The best continuations as (words, log-probability), best first."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from ptb_tf.serving import decoding  # pylint: disable=g-import-not-at-top

    def step_fn(ids, state):
        result = signatures["step_ids"](ids=tf.cast(ids, tf.int32), state=state)
        return result["log_probabilities"], result["state"]

    log_probs, state = state_after(signatures, prefix)
    beams = decoding.beam_search(step_fn, log_probs, state, beam_width,
                                 num_words)
    words = np.asarray(signatures["ids_to_words"](
        ids=tf.constant([ids for ids, _ in beams], tf.int32))["words"])
    return [([word.decode("utf-8") for word in row], log_prob)
            for row, (_, log_prob) in zip(words, beams)]


def main(argv):
    cli.check_no_arguments(argv)
    prefix, level, source = check_flags(FLAGS)
    tf = cli.quiet_tensorflow()
    signatures = source.signatures()
    if FLAGS.beam_width:
        for words, log_prob in beam_search(signatures, prefix, FLAGS.beam_width,
                                           FLAGS.num_words):
            print(f"{log_prob:.3f}\t{join_tokens(prefix + words, level)}")
        return
    top_k = 1 if FLAGS.greedy else FLAGS.top_k
    result = signatures["generate"](
        prefix=tf.constant([prefix] * FLAGS.num_samples),
        num_words=tf.constant(FLAGS.num_words),
        temperature=tf.constant(FLAGS.temperature, tf.float32),
        top_k=tf.constant(top_k), seed=tf.constant(FLAGS.seed, tf.int64))
    for words, log_prob in zip(np.asarray(result["words"]),
                               np.asarray(result["log_probability"])):
        generated = [word.decode("utf-8") for word in words]
        print(f"{log_prob:.3f}\t{join_tokens(prefix + generated, level)}")


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
