r"""Exports a trained model as a SavedModel for TensorFlow Serving.

    python -m ptb_tf.export --save_path=/tmp/ptb_small \
        --export_dir=saved_models/ptb_small

writes saved_models/ptb_small/VERSION/, VERSION one more than the highest
already there, from the checkpoint with the best validation perplexity
(--checkpoint=latest for the latest one). See ptb_tf/serving.py for the
signatures.
"""

from absl import app
from absl import flags

from ptb_tf import cli
from ptb_tf import save_dir
from ptb_tf import versions
from ptb_tf.errors import UsageError

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
    flags.DEFINE_integer("top_k", 10,
                         "Number of next words serving_default and step return.",
                         flag_values=flag_values)


def export(config, save_path: str, vocab_path: str, export_dir: str,
           top_k: int, checkpoint: str = "best") -> str:
    """Writes a checkpoint of save_path as a new version; returns its folder.

    checkpoint: "best" or "latest" (see training.load_model).
    """
    tf = cli.quiet_tensorflow()
    from ptb_tf import serving  # pylint: disable=g-import-not-at-top
    from ptb_tf import training  # pylint: disable=g-import-not-at-top
    model = training.load_model(config, save_path, checkpoint, vocab_path)
    module = serving.ServingModule(model, vocab_path, top_k=top_k)

    def write(folder):
        tf.saved_model.save(module, folder, signatures=module.signatures())
        versions.write_metadata(folder,
                                {"level": save_dir.run_level(save_path)})

    return versions.write_version(export_dir, write)


def main(argv):
    cli.check_no_arguments(argv)
    for name in ("save_path", "export_dir"):
        if not FLAGS[name].value:
            raise UsageError(f"--{name} is required")
    if FLAGS.checkpoint not in ("best", "latest"):
        raise UsageError("--checkpoint must be best or latest. "
                         f"Received: checkpoint={FLAGS.checkpoint}")
    if FLAGS.top_k < 1:
        raise UsageError(f"--top_k must be >= 1. Received: top_k={FLAGS.top_k}")
    config, vocab_path = save_dir.load_run(FLAGS.save_path)
    path = export(config, FLAGS.save_path, vocab_path, FLAGS.export_dir,
                  FLAGS.top_k, FLAGS.checkpoint)
    print(f"Exported the {FLAGS.checkpoint} checkpoint of {FLAGS.save_path} "
          f"to {path}")


def run() -> None:
    define_flags()
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
