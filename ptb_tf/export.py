r"""Exports a trained model as a SavedModel for TensorFlow Serving, or as a
TFLite model for LiteRT on a device.

    python -m ptb_tf.export --save_path=/tmp/ptb_small \
        --export_dir=saved_models/ptb_small
    python -m ptb_tf.export --save_path=/tmp/ptb_small --format=tflite \
        --quantize --export_dir=saved_models/ptb_small_int8

writes saved_models/ptb_small/VERSION/, VERSION one more than the highest
already there, from the checkpoint with the best validation perplexity
(--checkpoint=latest for the latest one). See ptb_tf/serving/module.py for the
SavedModel's signatures and ptb_tf/serving/tflite_export.py for the TFLite model.
"""

from absl import flags

from ptb_tf import cli
from ptb_tf import run_dir
from ptb_tf.errors import UsageError
from ptb_tf.options import CHECKPOINTS, choice_problem
from ptb_tf.serving import limits
from ptb_tf.serving import export_layout
from ptb_tf.serving import saved_model


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_string("save_path", None,
                        "Folder of a training run (python -m ptb_tf.train).",
                        flag_values=flag_values)
    flags.DEFINE_string("export_dir", None,
                        "Folder NAME of the NAME/VERSION/ layout; the new "
                        "version goes below it.", flag_values=flag_values)
    flags.DEFINE_string("checkpoint", "best",
                        "Which checkpoint to export: best (best validation "
                        "perplexity) or latest.", flag_values=flag_values)
    flags.DEFINE_enum("format", "savedmodel", ["savedmodel", "tflite"],
                      "savedmodel: for TensorFlow Serving and Python; tflite: "
                      "the step function for LiteRT (on a device).",
                      flag_values=flag_values)
    flags.DEFINE_bool("quantize", False,
                      "With --format=tflite: int8 weights (dynamic-range "
                      "quantization), about a quarter of the size.",
                      flag_values=flag_values)
    flags.DEFINE_integer("next_words", 10,
                         "How many most probable next words serving_default "
                         "and step return.", flag_values=flag_values)
    # Renamed: generate's --top_k (and the generate signature's top_k) is
    # the sampling cut-off.
    cli.define_old_name("top_k", "next_words", flag_values)
    default = limits.DEFAULT
    flags.DEFINE_integer("max_batch_size", default.max_batch_size,
                         "Most sequences one request may send, and most "
                         "batch_size of zero_state/start_state.",
                         flag_values=flag_values)
    flags.DEFINE_integer("max_sequence_length", default.max_sequence_length,
                         "Most words per sequence in one request.",
                         flag_values=flag_values)
    flags.DEFINE_integer("max_num_words", default.max_num_words,
                         "Most words one generate request may ask for.",
                         flag_values=flag_values)


def limits_from_flags(flag_values: flags.FlagValues):
    """The serving limits the flags ask for (UsageError if one is bad)."""
    return limits.Limits(
        max_batch_size=flag_values.max_batch_size,
        max_sequence_length=flag_values.max_sequence_length,
        max_num_words=flag_values.max_num_words)


def main(argv):
    cli.check_no_arguments(argv)
    for name in ("save_path", "export_dir"):
        if not FLAGS[name].value:
            raise UsageError(f"--{name} is required")
    problem = choice_problem("checkpoint", FLAGS.checkpoint, CHECKPOINTS)
    if problem:
        raise UsageError(problem)
    if FLAGS.quantize and FLAGS.format != "tflite":
        raise UsageError("--quantize needs --format=tflite (a SavedModel "
                         "keeps float32 weights)")
    cli.check_min(FLAGS, 1, "next_words")
    limits = limits_from_flags(FLAGS)
    run_dir.load_run(FLAGS.save_path)
    export_layout.check_export_dir(FLAGS.export_dir)
    cli.quiet_tensorflow()
    path = saved_model.export(FLAGS.save_path, FLAGS.export_dir, FLAGS.next_words,
                              FLAGS.checkpoint, limits, FLAGS.format,
                              FLAGS.quantize)
    kind = ("an int8 TFLite model" if FLAGS.quantize else "a TFLite model"
            ) if FLAGS.format == "tflite" else "a SavedModel"
    print(f"Exported the {FLAGS.checkpoint} checkpoint of {FLAGS.save_path} "
          f"as {kind} to {path}")


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
