"""Exporting a training run's checkpoint as a new version of an export."""

from ptb_tf import run_dir
from ptb_tf.errors import reason
from ptb_tf.options import BEST
from ptb_tf.serving import export_layout
from ptb_tf.serving import limits as limits_lib


def export(save_path: str, export_dir: str, next_words: int = 10,
           checkpoint: str = BEST,
           limits: limits_lib.Limits = limits_lib.DEFAULT,
           export_format: str = "savedmodel", quantize: bool = False) -> str:
    """Writes a checkpoint of the run in save_path as a new version of
    export_dir (NAME/VERSION, ptb_tf.serving.export_layout); returns its folder.

    checkpoint: "best" or "latest" (see ptb_tf.training.models.load_model).
    next_words: how many most probable next words serving_default and
    step return. limits: the largest request
    the export answers, checked in every signature and written into its
    metadata. export_format: "savedmodel" or "tflite" (quantize: int8
    weights).
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from ptb_tf.serving.module import ServingModule  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.models import load_model  # pylint: disable=g-import-not-at-top
    _, vocab_path = run_dir.load_run(save_path)
    model = load_model(save_path, checkpoint)
    if export_format == "tflite":
        from ptb_tf.serving import tflite_export  # pylint: disable=g-import-not-at-top
        return tflite_export.export(model, save_path, vocab_path, export_dir,
                                    quantize, limits)
    module = ServingModule(model, vocab_path, next_words=next_words,
                           limits=limits)

    def write(folder):
        try:
            tf.saved_model.save(module, folder, signatures=module.signatures())
        except tf.errors.OpError as error:  # what a full disk raises here
            raise OSError(reason(error)) from None
        export_layout.write_metadata(folder, {
            "level": run_dir.run_level(save_path), "limits": limits.to_dict()})

    return export_layout.write_version(export_dir, write)
