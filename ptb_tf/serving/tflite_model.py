"""A TFLite export run in LiteRT's interpreter (`ai-edge-litert`, the
interpreter phones run), with the SavedModel's signatures on top of it.

    model = TFLiteModel("saved_models/ptb_small_tflite")
    log_probs, state = model.step(np.array([model.eos_id]), model.zero_state(1))
    model.signatures()["score"](words=[["the", "market", "fell"]])

The TFLite model is only the step (ptb_tf/serving/tflite_export.py); scoring and
sampling run that step once per word here, in numpy, so that the generate and
score tools take a TFLite export as they take a SavedModel. Sampling uses
numpy's generator: the same seed gives the same text on the same export, not
the same text as the SavedModel's sampler. Needs no TensorFlow.
"""

import os
from typing import Dict

import numpy as np

from ptb_tf.corpus.vocab import Vocabulary
from ptb_tf.errors import UserError
from ptb_tf.serving import export_layout
from ptb_tf.serving import limits


# The files of a TFLite export's version folder (ptb_tf/serving/tflite_export.py).
MODEL_FILE = "model.tflite"
VOCAB_FILE = os.path.join("assets", "vocab.txt")


def resolve(path: str) -> str:
    """A TFLite export's version folder, from the folder, the model file in
    it, or NAME (its newest version)."""
    if os.path.basename(path) == MODEL_FILE and os.path.isfile(path):
        path = os.path.dirname(path) or "."
    folder = export_layout.resolve_version(path, MODEL_FILE)
    if folder is None:
        raise UserError(f"{path} is not a TFLite export (no {MODEL_FILE} in it "
                        "or in a version folder below it); write one with "
                        "python -m ptb_tf.export --format=tflite")
    return folder


def _interpreter(model_path: str, num_threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
    except ImportError:
        raise UserError("running a TFLite export needs LiteRT's interpreter: "
                        "pip install ai-edge-litert (or ptb_tf[tflite])") from None
    return Interpreter(model_path=model_path, num_threads=num_threads)


class TFLiteModel:
    """A TFLite export: its step, vocabulary, limits and metadata."""

    def __init__(self, path: str, num_threads: int = 1):
        folder = resolve(path)
        self.metadata = export_layout.read_metadata(folder)
        self.limits = limits.Limits.from_dict(
            self.metadata.get("limits", {}))
        self.vocab = Vocabulary.load(os.path.join(folder,
                                                  VOCAB_FILE))
        self.eos_id = self.metadata["eos_id"]
        layers, parts, _, hidden = self.metadata["state_shape"]
        self.state_shape = (layers, parts, hidden)
        interpreter = _interpreter(
            os.path.join(folder, MODEL_FILE), num_threads)
        self._step = interpreter.get_signature_runner("step")
        self._next = interpreter.get_signature_runner("next_log_probs")

    def zero_state(self, batch_size: int) -> np.ndarray:
        layers, parts, hidden = self.state_shape
        return np.zeros([layers, parts, batch_size, hidden], np.float32)

    def step(self, ids, state):
        """ids int [B], state [L, S, B, H] -> log-probabilities [B, V] of the
        next word and the new state (numpy float32)."""
        ids = np.asarray(ids, np.int32)
        if ids.min(initial=0) < 0 or ids.max(initial=0) >= len(self.vocab):
            raise ValueError(f"ids must be in [0, {len(self.vocab)})")
        out = self._step(ids=ids, state=np.asarray(state, np.float32))
        return out["log_probabilities"], out["state"]

    def next_log_probs(self, state) -> np.ndarray:
        """state [L, S, B, H] -> log-probabilities [B, V] of the word after it."""
        return self._next(state=np.asarray(state, np.float32))[
            "log_probabilities"]

    def start_state(self, batch_size: int) -> np.ndarray:
        """The state after "<eos>": where a sentence starts."""
        return self.step(np.full([batch_size], self.eos_id),
                         self.zero_state(batch_size))[1]

    def encode(self, words) -> np.ndarray:
        """words [B, T] (str or bytes; "" is padding) -> ids, -1 on padding."""
        words = np.asarray(words, object)
        ids = np.full(words.shape, -1, np.int64)
        for index, word in np.ndenumerate(words):
            word = word.decode("utf-8") if isinstance(word, bytes) else str(word)
            if word:
                ids[index] = self.vocab.ids.get(word, self.vocab.unk_id)
        return ids

    def score_from_state(self, words, state) -> Dict[str, np.ndarray]:
        """As the SavedModel's signature: padding leaves the state as it was."""
        ids = self.encode(words)
        state = np.array(state, np.float32)
        log_probs = self.next_log_probs(state)
        token_log_probs = np.zeros(ids.shape, np.float32)
        for t in range(ids.shape[1]):
            real = ids[:, t] >= 0
            token_log_probs[real, t] = log_probs[real, ids[real, t]]
            next_log_probs, next_state = self.step(np.maximum(ids[:, t], 0),
                                                   state)
            state[:, :, real] = next_state[:, :, real]
            log_probs[real] = next_log_probs[real]
        total = token_log_probs.sum(axis=1)
        counts = (ids >= 0).sum(axis=1).astype(np.int32)
        return {"log_probability": total, "num_tokens": counts,
                "perplexity": np.exp(-total / np.maximum(counts, 1)),
                "token_log_probabilities": token_log_probs, "state": state}

    def score(self, words) -> Dict[str, np.ndarray]:
        """Each sequence scored from a sentence start."""
        result = self.score_from_state(
            words, self.start_state(np.asarray(words, object).shape[0]))
        del result["state"]
        return result

    def step_words(self, words, state) -> Dict[str, np.ndarray]:
        """As the SavedModel's step: one word per sequence."""
        log_probs, state = self.step(self.encode(np.asarray(words, object)
                                                 [:, None])[:, 0], state)
        return {"log_probabilities": log_probs, "state": state}

    def ids_to_words(self, ids) -> np.ndarray:
        """ids [B, T] -> words as UTF-8 bytes [B, T], as TensorFlow returns them."""
        ids = np.asarray(ids)
        return np.array([word.encode("utf-8")
                         for word in self.vocab.decode(ids.ravel())],
                        object).reshape(ids.shape)

    def generate(self, prefix, num_words: int, temperature: float,
                 top_k: int, seed: int) -> Dict[str, np.ndarray]:
        """Samples num_words words after each prefix (top_k 0: all words)."""
        prefix = np.asarray(prefix, object)
        rng = np.random.default_rng(int(seed))
        state = self.score_from_state(
            prefix, self.start_state(prefix.shape[0]))["state"]
        log_probs = self.next_log_probs(state)
        chosen = np.zeros([prefix.shape[0], int(num_words)], np.int32)
        total = np.zeros([prefix.shape[0]], np.float32)
        for index in range(int(num_words)):
            logits = log_probs.astype(np.float64) / float(temperature)
            if 0 < int(top_k) < logits.shape[1]:
                kth = np.sort(logits, axis=1)[:, -int(top_k)][:, None]
                logits = np.where(logits < kth, -np.inf, logits)
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            ids = np.array([rng.choice(len(row), p=row) for row in probs],
                           np.int32)
            total += log_probs[np.arange(len(ids)), ids]
            chosen[:, index] = ids
            log_probs, state = self.step(ids, state)
        return {"words": self.ids_to_words(chosen), "log_probability": total}

    def signatures(self):
        """The SavedModel signatures the generate and score tools call."""

        def step_ids(ids, state):
            log_probs, state = self.step(ids, state)
            return {"log_probabilities": log_probs, "state": state}

        return {
            "start_state": lambda batch_size: {
                "state": self.start_state(int(batch_size))},
            "score_from_state": self.score_from_state,
            "score": self.score,
            "step": self.step_words,
            "step_ids": step_ids,
            "ids_to_words": lambda ids: {"words": self.ids_to_words(ids)},
            "generate": self.generate,
        }
