"""Models built for a config, and loaded from a run's checkpoint."""

import tensorflow as tf

from ptb_tf import config as config_lib
from ptb_tf import run_dir
from ptb_tf.corpus.vocab import Vocabulary
from ptb_tf.model.ptb_model import PTBModel
from ptb_tf.options import BEST
from ptb_tf.training import checkpoints


def build_model(config: config_lib.Config, rnn_mode: str = "keras",
                precision: str = "float32") -> PTBModel:
    """A PTBModel with its weights created (ready to restore a checkpoint).

    precision: "float32", "mixed_bfloat16" or "mixed_float16" (float32
    weights, half-precision matmuls; see PTBModel); checkpoints are the same
    either way.
    """
    model = PTBModel(vocab_size=config.vocab_size,
                     hidden_size=config.hidden_size,
                     num_layers=config.num_layers, keep_prob=config.keep_prob,
                     init_scale=config.init_scale, rnn_mode=rnn_mode,
                     precision=precision, cell=config.cell,
                     tie_embeddings=config.tie_embeddings,
                     dropout=config.dropout,
                     embedding_dropout=config.embedding_dropout)
    model(tf.zeros([1, 1], tf.int32))
    return model


def load_model(save_path: str, which: str = BEST) -> PTBModel:
    """The PTBModel of a checkpoint of the run in save_path (weights only).

    which: "best" (the best validation perplexity, or the latest if no best
    one was kept) or "latest"; a damaged checkpoint is skipped for the one
    before it, said on stderr. The checkpoint's recorded config and
    vocabulary must be the run folder's (UserError if not).
    """
    config, vocab_path = run_dir.load_run(save_path)
    model = build_model(config)
    checkpoints.restore_first_intact(
        tf.train.Checkpoint(model=model),
        checkpoints.candidates(save_path, which),
        run_dir.identity_of(config, Vocabulary.load(vocab_path)),
        "load the model", partial=True)
    return model
