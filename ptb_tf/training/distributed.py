"""Data-parallel training with tf.distribute: MirroredStrategy (several GPUs,
or logical CPU devices) and MultiWorkerMirroredStrategy (TF_CONFIG).

The global batch of the tutorial (batch_size streams of the corpus) is cut
into equal row blocks, one per replica: replica r trains streams
[r * B/R, (r + 1) * B/R). Each replica carries the recurrent state of its own
streams across batches; across chunks (and in checkpoints) the state is the
global [num_layers, S, batch, hidden] tensor, gathered from the replicas in
order. Each step all-reduces the gradients to the global batch's gradient
(the mean of the replicas': the cost is a batch mean), clips that by the
global norm one device computes for the batch (mean_and_norm), and applies
it: the update equals single-device training on the same global batch (with
mixed_float16, under the same dynamic loss scale).

In a cluster: a lost worker ends the others with one line (lost_peer), and
SIGTERM to any worker makes all of them save and stop (PreemptionSaves);
ptb_tf.training.run decides who writes the run folder (the chief).
"""

import atexit
import os
import re
import shutil
import tempfile
from typing import Callable, Optional

import keras
import tensorflow as tf

from ptb_tf import cluster
from ptb_tf.errors import UserError
from ptb_tf.training.sgd import apply_clipped_sgd
from ptb_tf.training.trainer import Trainer


# What a collective raises when a peer is gone: its connection reset
# (Unavailable), TensorFlow's health check aborting the collectives
# (Unavailable), or the collectives' timeout (DeadlineExceeded).
PEER_LOST = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
             tf.errors.AbortedError, tf.errors.CancelledError)

# A collective waits this long for its peers before it fails (a backstop to
# the health check: a peer that hangs rather than dies).
COLLECTIVE_TIMEOUT_SECONDS = 600


def make_strategy(name: str, num_gpus: int = 0,
                  devices: Optional[list] = None) -> Optional[tf.distribute.Strategy]:
    """None for "default" (one device), else the tf.distribute strategy.

    mirrored: over `devices` if given, else num_gpus GPUs (all visible ones
    if 0). multi_worker: one replica per worker of TF_CONFIG's cluster (its
    local GPUs, if any).
    """
    if name == "default":
        return None
    if name == "mirrored":
        if not devices:
            gpus = tf.config.list_logical_devices("GPU")
            if num_gpus > len(gpus):
                raise UserError(f"--num_gpus={num_gpus} but this machine has "
                                f"{len(gpus)} GPU(s) TensorFlow can use")
            devices = [gpu.name for gpu in gpus[:num_gpus or len(gpus)]]
            if not devices:
                raise UserError("--strategy=mirrored needs GPUs (--num_gpus) "
                                "and TensorFlow sees none; drop the flag to "
                                "train on the CPU")
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if not cluster.tf_config().get("cluster", {}).get("worker"):
            raise UserError("--strategy=multi_worker needs TF_CONFIG with a "
                            "cluster of workers and this task's index")
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS))
    raise ValueError(f"unknown strategy {name!r}")


def lost_peer(error: tf.errors.OpError, latest: Optional[str]) -> UserError:
    """The one line for a collective that failed because a worker is gone."""
    text = error.message or ""
    peer = re.search(r"/job:(\w+)/replica:\d+/task:(\d+)", text)
    cause = re.search(r"(Connection reset by peer|Connection refused|"
                      r"cluster check alive failed|timed out|Deadline "
                      r"Exceeded)", text, flags=re.I)
    who = f"{peer.group(1)} {peer.group(2)}" if peer else "a worker"
    return UserError(
        f"lost {who} of the cluster"
        + (f" ({cause.group(1)})" if cause else "")
        + "; start every worker again with the same command: they resume "
        + (f"from the latest checkpoint ({os.path.basename(latest)})" if latest
           else "from the start (no checkpoint was written yet)"))


class Preempted(UserError):
    """The run stopped on a preemption signal, after a checkpoint."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=143)  # 128 + SIGTERM


class PreemptionSaves:
    """TensorFlow's PreemptionCheckpointHandler for a multi-worker run: when
    any worker gets SIGTERM, every worker calls save() after the same chunk
    (the handler agrees on it through the cluster's coordination service),
    then the run stops with Preempted. `check()` goes after every chunk.
    """

    def __init__(self, strategy: tf.distribute.Strategy,
                 save: Callable[[], str]):
        self.save, self.saved = save, None
        # The handler restores its manager's latest checkpoint when it is
        # made: an empty folder of its own, so that it never reads the run's
        # (ptb_tf restores those, skipping damaged ones).
        folder = tempfile.mkdtemp(prefix="ptb_tf-preemption-")
        atexit.register(shutil.rmtree, folder, True)
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(), folder,
                                             max_to_keep=1)
        self.handler = tf.distribute.experimental.PreemptionCheckpointHandler(
            strategy.cluster_resolver, manager,
            termination_config=tf.distribute.experimental.TerminationConfig(
                exit_fn=self._stop, save_fn=self._save))

    def _save(self) -> None:
        self.saved = self.save()

    def _stop(self) -> None:
        raise Preempted(f"stopped by a preemption signal (SIGTERM) after "
                        f"saving {self.saved}; start every worker again with "
                        "the same command to resume from it")

    def check(self) -> None:
        self.handler.save_checkpoint_if_preempted()


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Returns once every worker has called it (an all-reduce of nothing)."""
    strategy.reduce(tf.distribute.ReduceOp.SUM,
                    strategy.run(lambda: tf.constant(1.0)), axis=None)


class DistributedTrainer(Trainer):
    """A Trainer whose train_steps run data-parallel under a strategy.

    The model must have been built under strategy.scope(). Evaluation runs as
    on one device (on every worker alike).
    """

    def __init__(self, model, config, strategy: tf.distribute.Strategy):
        replicas = strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise UserError(f"--batch_size={config.batch_size} does not split "
                            f"into {replicas} replicas; use a multiple of "
                            f"{replicas}")
        self.strategy = strategy
        self.rows = config.batch_size // replicas
        with strategy.scope():
            super().__init__(model, config, jit_compile=False)
            if self.loss_scaled:
                # The same dynamic loss scale, but the clipping is done here,
                # on the all-reduced unscaled gradient (Keras's clipnorm
                # would clip each replica's share).
                self.optimizer = keras.optimizers.LossScaleOptimizer(
                    keras.optimizers.SGD(learning_rate=config.learning_rate))
                self.optimizer.build(model.trainable_variables)
            # Each replica's own slice of the carried state.
            self.replica_state = tf.Variable(
                model.zero_state(self.rows), trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.train_steps = tf.function(self._distributed_steps)

    def _rows(self, tensor, axis=0):
        """This replica's block of rows (along `axis`) of a global tensor."""
        context = tf.distribute.get_replica_context()
        start = context.replica_id_in_sync_group * self.rows
        begin = [0] * tensor.shape.rank
        size = [-1] * tensor.shape.rank
        begin[axis], size[axis] = start, self.rows
        return tf.slice(tensor, tf.stack(begin), size)

    def _replica_step(self, inputs, targets):
        """One step of one replica on its rows of the global batch [B, T]."""
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        # float16: gradients of the loss times the dynamic scale, so that
        # they do not underflow (1 for the other precisions).
        scale = (tf.identity(self.optimizer.dynamic_scale) if self.loss_scaled
                 else tf.constant(1.0))
        with tf.GradientTape() as tape:
            cost, new_state = self.training_cost(
                self._rows(inputs), self._rows(targets),
                self.replica_state.read_value())
            scaled_cost = cost * scale
        variables = self.model.trainable_variables
        # The global batch's gradient and cost: the means over replicas.
        gradients, global_norm = mean_and_norm(
            context, tape.gradient(scaled_cost, variables))
        gradients = [gradient / scale for gradient in gradients]
        global_norm /= scale
        cost = context.all_reduce(tf.distribute.ReduceOp.MEAN, cost)
        if self.loss_scaled:
            clipped, _ = tf.clip_by_global_norm(
                gradients, self.config.max_grad_norm, use_norm=global_norm)
            # Keras's optimizer sums the replicas' gradients inside apply
            # (each replica hands it the same global gradient): 1/R of it,
            # scaled again: the loss-scale optimizer divides by the scale,
            # and skips the step (halving the scale) if any is not finite.
            self.optimizer.apply([gradient * scale / replicas
                                  for gradient in clipped], variables)
        else:
            apply_clipped_sgd(self.optimizer, variables, gradients,
                              self.config.max_grad_norm,
                              tf.math.is_finite(cost), norm=global_norm)
        self.replica_state.assign(new_state)
        return cost, global_norm

    def _load_state(self, state):
        self.replica_state.assign(self._rows(state, axis=2))

    def _gather_state(self):
        return tf.distribute.get_replica_context().all_gather(
            self.replica_state.read_value(), axis=2)

    def _first(self, value):
        return self.strategy.experimental_local_results(value)[0]

    def _distributed_steps(self, inputs, targets, count, state):
        """Trainer._run_steps's contract, data-parallel."""
        self.strategy.run(self._load_state, args=(state,))

        def more(index, total_cost, finite, total_norm):
            del total_cost, total_norm
            return (index < count) & finite

        def run_one(index, total_cost, finite, total_norm):
            del finite
            cost, norm = self.strategy.run(
                self._replica_step, args=(inputs[index], targets[index]))
            cost, norm = self._first(cost), self._first(norm)
            return (index + 1, total_cost + cost, tf.math.is_finite(cost),
                    total_norm + norm)

        ran, total_cost, finite, total_norm = tf.while_loop(
            more, run_one, (tf.constant(0), tf.constant(0.0),
                            tf.constant(True), tf.constant(0.0)))
        with tf.control_dependencies([ran]):
            state = self._first(self.strategy.run(self._gather_state))
        return ran, total_cost, state, finite, total_norm


def mean_and_norm(context: tf.distribute.ReplicaContext, gradients):
    """The replicas' mean of `gradients` (one per variable, dense or
    tf.IndexedSlices) as dense tensors, and its global norm float32 [] as
    one device computes it for the whole batch.

    One device's norm (tf.linalg.global_norm, as clip_by_global_norm and the
    tutorial take it) counts an embedding row once per occurrence in the
    batch: the squares of tf.IndexedSlices values, repeated rows not summed
    first. The replicas' mean of such slices is all of their rows divided
    by R, so that part of the squared norm is the sum of every replica's
    squared slices over R**2. The rest is the dense mean's own. The norm of
    the dense mean alone would differ whenever a batch repeats a word.
    """
    replicas = context.num_replicas_in_sync
    sliced_square = tf.add_n(
        [tf.constant(0.0)] + [tf.reduce_sum(tf.square(gradient.values))
                              for gradient in gradients
                              if isinstance(gradient, tf.IndexedSlices)])
    mean = context.all_reduce(tf.distribute.ReduceOp.MEAN,
                              [tf.convert_to_tensor(gradient)
                               for gradient in gradients])
    sliced_square = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                       sliced_square) / replicas ** 2
    dense_square = tf.add_n(
        [tf.constant(0.0)] + [tf.reduce_sum(tf.square(reduced))
                              for reduced, gradient in zip(mean, gradients)
                              if not isinstance(gradient, tf.IndexedSlices)])
    return mean, tf.sqrt(dense_square + sliced_square)
