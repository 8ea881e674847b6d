"""Where a tool finds a trained model: an export, a TFLite export or a run.

generate, score and embeddings call the same signatures whether the model
comes from a SavedModel (`--saved_model`), a TFLite export (`--tflite`) or
straight from a training run (`--save_path`, built in memory as it would be
exported). No TensorFlow at import: `check` runs before it starts.
"""

import dataclasses
import functools
import os
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from ptb_tf import run_dir
from ptb_tf.corpus.vocab import Vocabulary
from ptb_tf.errors import UsageError, UserError, reason
from ptb_tf.options import BEST
from ptb_tf.serving import export_layout
from ptb_tf.serving import limits as limits_lib
from ptb_tf.serving import tflite_model

# Signature name -> function taking and returning named tensors (numpy
# arrays for a TFLite export).
Signatures = Dict[str, Callable[..., dict]]


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """One of saved_model, save_path and tflite ("" for a flag left out,
    None for one the tool does not offer); checkpoint: which of a run's
    checkpoints, "best" or "latest"."""

    saved_model: Optional[str] = None
    save_path: Optional[str] = None
    tflite: Optional[str] = None
    checkpoint: str = BEST

    def check(self) -> "ModelSource":
        """Returns self, or raises UserError: not exactly one source, or no
        model there."""
        sources = {"--saved_model (an export)": self.saved_model,
                   "--save_path (a training run)": self.save_path}
        if self.tflite is not None:  # only the tools that take a TFLite export
            sources["--tflite (a TFLite export)"] = self.tflite
        if sum(bool(value) for value in sources.values()) != 1:
            names = list(sources)
            raise UsageError(f"pass exactly one of {', '.join(names[:-1])} "
                             f"and {names[-1]}")
        if self.save_path:
            run_dir.load_run(self.save_path)
        else:
            _ = self.export_path  # resolving it checks that it is there
        return self

    @functools.cached_property
    def export_path(self) -> Optional[str]:
        """The export's NAME/VERSION folder (None for a training run)."""
        if self.saved_model:
            return export_layout.resolve_saved_model(self.saved_model)
        if self.tflite:
            return tflite_model.resolve(self.tflite)
        return None

    @functools.cached_property
    def metadata(self) -> dict:
        """An export's assets.extra/ptb_tf.json ({} for a training run)."""
        path = self.export_path
        return export_layout.read_metadata(path) if path else {}

    @property
    def level(self) -> str:
        """"word" or "char": how the model's text is cut into tokens."""
        if self.save_path:
            return run_dir.run_level(self.save_path)
        return self.metadata.get("level", "word")

    @property
    def limits(self) -> limits_lib.Limits:
        """The largest request the model answers: an export's own limits, or
        the defaults (a training run is served in memory with them)."""
        if self.save_path:
            return limits_lib.DEFAULT
        return limits_lib.Limits.from_dict(self.metadata.get("limits", {}))

    def signatures(self) -> Signatures:
        """The model's signatures (imports TensorFlow unless TFLite)."""
        if self.tflite:
            return tflite_model.TFLiteModel(self.tflite).signatures()
        if self.saved_model:
            return self._load_export().signatures
        from ptb_tf.serving.module import ServingModule  # pylint: disable=g-import-not-at-top
        return ServingModule(self.load_model(), self.vocab_path).signatures()

    def _load_export(self):
        """tf.saved_model.load of the export; UserError if it is damaged."""
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        try:
            return tf.saved_model.load(self.export_path)
        # What a truncated or zeroed saved_model.pb or variables file raises.
        except (OSError, ValueError, IndexError, tf.errors.OpError) as error:
            raise UserError(f"cannot load the export {self.export_path} "
                            f"({reason(error)}): it is damaged; export the run "
                            "again") from None

    @property
    def vocab_path(self) -> str:
        if self.save_path:
            return os.path.join(self.save_path, run_dir.VOCAB_FILE)
        return os.path.join(self.export_path, "assets", "vocab.txt")

    def load_model(self):
        """The run's PTBModel, from checkpoint "best" or "latest"."""
        from ptb_tf.training.models import load_model  # pylint: disable=g-import-not-at-top
        return load_model(self.save_path, self.checkpoint)

    def embedding(self) -> Tuple[np.ndarray, Vocabulary]:
        """float32 [vocab, hidden]: the input embedding, and its vocabulary
        (not for a TFLite export, which keeps no weights by name)."""
        if self.saved_model:
            matrix = self._load_export().embedding.numpy()
        else:
            matrix = self.load_model().embedding.embeddings.numpy()
        return matrix, Vocabulary.load(self.vocab_path)
