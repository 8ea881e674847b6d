"""On-device export: the model's step function as a LiteRT (TFLite) model.

The classic home of a small LSTM language model is a phone keyboard:
next-word prediction, one step per word typed. The TFLite model holds that
step and nothing else; the state travels in the call, as it does for serving:

    ids    int32 [B]                the words just seen
    state  float32 [L, S, B, H]     (zeros for a fresh start)
    -> log_probabilities float32 [B, V] of the next word, state [L, S, B, H]

and, for a text continued from a state sent back by a client, the
signature `next_log_probs`: state -> log_probabilities [B, V].

The export is a folder in the SavedModel's NAME/VERSION/ layout, so that the
vocabulary and the metadata travel with the model:

    NAME/VERSION/model.tflite
    NAME/VERSION/assets/vocab.txt           line i: the word of id i
    NAME/VERSION/assets.extra/ptb_tf.json   level, limits, format, state shape

`--quantize` stores the weights as int8 (dynamic-range quantization: weights
int8 with a float scale per channel, activations float32), about a quarter
of the size. ptb_tf/serving/tflite_model.py runs the export in LiteRT's interpreter.
"""

import os
import shutil
import tempfile

import tensorflow as tf

from ptb_tf import run_dir
from ptb_tf.serving import export_layout
from ptb_tf.serving import limits
from ptb_tf.serving.module import ServingModule
from ptb_tf.serving.tflite_model import MODEL_FILE, VOCAB_FILE


class _StepModule(tf.Module):
    """The two signatures of the TFLite model, on a ServingModule's weights."""

    def __init__(self, module: ServingModule):
        super().__init__()
        self.module = module
        state = tf.TensorSpec([module.num_layers, module.state_parts, None,
                               module.hidden_size], tf.float32, name="state")
        self.step = tf.function(self._step, input_signature=[
            tf.TensorSpec([None], tf.int32, name="ids"), state])
        self.next_log_probs = tf.function(self._next_log_probs,
                                          input_signature=[state])

    def _step(self, ids, state):
        log_probs, new_state = self.module.step_log_probs(ids, state)
        return {"log_probabilities": log_probs, "state": new_state}

    def _next_log_probs(self, state):
        # The first word after a state passed in (a text continued across
        # requests): the same softmax the step applies to its new state.
        return {"log_probabilities": self.module.next_log_probs(state)}


def convert(module: ServingModule, quantize: bool = False) -> bytes:
    """The model's step (and next_log_probs) as a .tflite flatbuffer of
    builtin ops only."""
    steps = _StepModule(module)
    with tempfile.TemporaryDirectory() as folder:
        tf.saved_model.save(steps, folder, signatures={
            "step": steps.step.get_concrete_function(),
            "next_log_probs": steps.next_log_probs.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(
            folder, signature_keys=["step", "next_log_probs"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def export(model, save_path: str, vocab_path: str, export_dir: str,
           quantize: bool = False,
           limits: limits.Limits = limits.DEFAULT) -> str:
    """Writes a trained PTBModel as a new NAME/VERSION/ TFLite folder;
    returns the folder."""
    return export_module(ServingModule(model, vocab_path, limits=limits),
                         vocab_path, export_dir, quantize,
                         run_dir.run_level(save_path))


def export_module(module: ServingModule, vocab_path: str,
                  export_dir: str, quantize: bool = False,
                  level: str = "word") -> str:
    """Writes a ServingModule's step as a new NAME/VERSION/ TFLite folder."""
    flatbuffer = convert(module, quantize)

    def write(folder):
        with open(os.path.join(folder, MODEL_FILE), "wb") as model_file:
            model_file.write(flatbuffer)
        os.makedirs(os.path.join(folder, "assets"))
        shutil.copyfile(vocab_path, os.path.join(folder, VOCAB_FILE))
        export_layout.write_metadata(folder, {
            "format": "tflite",
            "quantized": bool(quantize),
            "level": level,
            "limits": module.limits.to_dict(),
            "cell": module.cell,
            "state_shape": [module.num_layers, module.state_parts, None,
                            module.hidden_size],
            "eos_id": int(module.eos_id),
        })

    return export_layout.write_version(export_dir, write)
