"""Training: truncated BPTT, checkpointed within every epoch.

    losses.py       the tutorial's sequence cost and a sampled softmax
    trainer.py      Trainer: the compiled train and eval loops over chunks
    sgd.py          the tutorial's clipped SGD, one pass over each weight
    distributed.py  the same steps data-parallel under tf.distribute
    checkpoints.py  RunState (where a run stands), Saver (latest and best)
    models.py       build_model, load_model (a run's checkpoint)
    run.py          TrainingRun: resume or start, epochs, test, report
    results.py      the results dict (results.json)
    summaries.py    TensorBoard scalars

train_and_evaluate (TrainingRun with keyword options) is the entry for
notebooks.
"""

from ptb_tf.training.run import TrainingRun, train_and_evaluate

__all__ = ["TrainingRun", "train_and_evaluate"]
