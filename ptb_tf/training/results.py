"""What a training run reports: its results dict, written as results.json."""

import hashlib
import math
import os
import platform
from typing import Any, Dict

import keras
import numpy as np
import tensorflow as tf

from ptb_tf import hardware
from ptb_tf.corpus.splits import Corpus
from ptb_tf.errors import UserError, reason
from ptb_tf.files import write_json
from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.training.checkpoints import HISTORY_COLUMNS


def weights_sha256(model: PTBModel) -> str:
    """A digest of every weight's bytes: equal digests, equal models."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def token_unit(corpus: Corpus) -> str:
    """"character" if the tokens are characters (--level=char, or files such
    as PTB's ptb.char.* whose words are single characters), else "token"."""
    specials = {"<eos>", "<unk>"}
    if corpus.level == "char" or all(len(word) == 1 for word in
                                     corpus.vocab.words
                                     if word not in specials):
        return "character"
    return "token"


def machine_info() -> Dict[str, Any]:
    """What a results file needs to say about where it was measured."""
    cpu = hardware.cpu_model() or platform.processor() or platform.machine()
    return {"cpu": cpu, "cpu_description": hardware.cpu_description() or cpu,
            "cores": os.cpu_count(),
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "platform": platform.platform()}


def results_of(run, test_perplexity: float, test_seconds: float,
               unit: str) -> Dict[str, Any]:
    """The results dict of a finished TrainingRun (its keys are a contract:
    results.json, --results_file, the README's tables)."""
    options, state, corpus = run.options, run.state, run.corpus
    rows = state.history.numpy()
    return {
        "command": run.command,
        "config": run.config.to_dict(),
        "seed": options.seed,
        "rnn_mode": options.rnn_mode,
        "jit_compile": options.jit_compile,
        "precision": options.precision,
        "epochs": [dict(epoch=index + 1, **dict(zip(HISTORY_COLUMNS,
                                                     map(float, row))))
                   for index, row in enumerate(rows)],
        "train_perplexity": float(rows[-1][1]),
        "valid_perplexity": float(rows[-1][2]),
        "test_perplexity": test_perplexity,
        "test_bits_per_token": math.log2(test_perplexity),
        "replicas": run.strategy.num_replicas_in_sync if run.strategy else 1,
        "weights_sha256": weights_sha256(run.model),
        "token_unit": unit,
        "test_tokens_predicted": int(len(corpus.test) - 1),
        "test_eval_window": options.eval_window,
        "test_seconds": test_seconds,
        "best_valid_perplexity": float(state.best_valid),
        "best_epoch": int(np.argmin(rows[:, 2])) + 1,
        "train_words_per_second": float(np.mean(rows[:, 3])),
        "wall_seconds": float(state.wall_seconds),
        "machine": machine_info(),
    }


def write_results(path: str, results: Dict[str, Any]) -> None:
    """results as JSON at path; UserError (the run's checkpoints are kept)
    if it cannot be written."""
    try:
        write_json(path, results)
    except OSError as error:
        raise UserError(f"cannot write the results to {path}: "
                        f"{reason(error)}; free space and run the same "
                        "command again: the trained model is kept, and it "
                        "tests and writes them again") from None
