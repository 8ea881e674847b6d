"""One way to reach a trained model's signatures: SavedModel or checkpoint.

The generate and score tools call the same signatures whether the model comes
from an export (`--saved_model`) or straight from a training run
(`--save_path`, built in memory as it would be exported).
"""

from typing import Callable, Dict

import tensorflow as tf

from ptb_tf import cli
from ptb_tf import save_dir
from ptb_tf import tflite_model
from ptb_tf import versions

Signatures = Dict[str, Callable[..., Dict[str, tf.Tensor]]]


def load_signatures(saved_model: str = None, save_path: str = None,
                    checkpoint: str = "best", tflite: str = None) -> Signatures:
    """Signature name -> function taking and returning named tensors (numpy
    arrays for a TFLite export).

    checkpoint: which checkpoint of a save_path, "best" or "latest".
    """
    cli.check_model_source(saved_model, save_path, tflite)
    if tflite:
        return tflite_model.TFLiteModel(tflite).signatures()
    if saved_model:
        return tf.saved_model.load(
            versions.resolve_saved_model(saved_model)).signatures
    from ptb_tf import serving  # pylint: disable=g-import-not-at-top
    from ptb_tf import training  # pylint: disable=g-import-not-at-top
    config, vocab_path = save_dir.load_run(save_path)
    model = training.load_model(config, save_path, checkpoint, vocab_path)
    return serving.ServingModule(model, vocab_path).signatures()

