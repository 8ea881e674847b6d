r"""The tutorial's model and training loop written as TensorFlow 1 graph code,
to check ptb_tf against: an implementation that shares none of ptb_tf's
model, loss or update code.

    pip install tf_keras==<your TensorFlow's version>   # for BasicLSTMCell
    TF_USE_LEGACY_KERAS=1 python tools/tf1_reference.py --data_path=$PTB \
        --model=medium --epochs=2

What it is, as `ptb_word_lm.py` built it (rnn_mode BASIC; BLOCK's
LSTMBlockCell has the same maths and is gone with tf.contrib): graph mode,
one variable scope with a uniform(-init_scale, init_scale) initializer;
`BasicLSTMCell(forget_bias=0.0)` (its bias starts at zero: the cell's own
initializer) in a `DropoutWrapper(output_keep_prob)` when training, stacked
by `MultiRNNCell` and stepped by hand for num_steps; dropout on the embedded
inputs; the cost the sum over time of the batch-mean cross-entropy;
`tf.gradients`, `clip_by_global_norm`, `GradientDescentOptimizer`; the state
fetched after each batch and fed into the next; valid in the training
shapes, test at batch 1 and one step. Only ptb_tf's corpus loader is
shared (its batches are tested equal to the tutorial's reader elsewhere).

Per epoch it prints the tutorial's lines ("Epoch: 1 Train Perplexity: ...").
--init_from=FILE.npz starts from given weights instead (ptb_tf's, as
tests/test_tf1_reference.py writes them) and --max_steps stops each training
epoch early; with --print_costs each training step's cost is printed: the
test compares them with ptb_tf's on the same weights and batches.

A whole run of medium or large takes most of a day on a CPU, so with
--save_path=DIR it saves the variables, the carried state and the epoch's
running cost every --save_every training batches and at each epoch's end,
and the same command resumes from the latest save. The resumed run is not
the uninterrupted one to the bit: TensorFlow 1's dropout ops keep their
random streams outside the checkpoint, so after a resume the masks are
drawn from the seed's start again, not continued. --results_file writes
every epoch's perplexities and the test's as JSON.
"""

import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ptb_tf.files import write_json  # pylint: disable=wrong-import-position


def batches(ids, batch_size, num_steps):
    """The tutorial's ptb_producer: (x, y) int32 [batch_size, num_steps]."""
    ids = np.asarray(ids, np.int32)
    batch_len = len(ids) // batch_size
    data = ids[:batch_size * batch_len].reshape(batch_size, batch_len)
    for i in range((batch_len - 1) // num_steps):
        start = i * num_steps
        yield (data[:, start:start + num_steps],
               data[:, start + 1:start + num_steps + 1])


class Model:
    """One copy of the graph (training, valid or test shapes); the variables
    are shared through the enclosing variable scope."""

    def __init__(self, tf, config, is_training, batch_size, num_steps):
        hidden, vocab = config.hidden_size, config.vocab_size
        self.batch_size, self.num_steps = batch_size, num_steps
        self.inputs = tf.compat.v1.placeholder(tf.int32, [batch_size, num_steps])
        self.targets = tf.compat.v1.placeholder(tf.int32, [batch_size, num_steps])
        embedding = tf.compat.v1.get_variable("embedding", [vocab, hidden])
        inputs = tf.nn.embedding_lookup(embedding, self.inputs)
        dropping = is_training and config.keep_prob < 1
        if dropping:
            inputs = tf.nn.dropout(inputs, rate=1 - config.keep_prob)
        rnn_cell = tf.compat.v1.nn.rnn_cell

        def make_cell():
            cell = rnn_cell.BasicLSTMCell(hidden, forget_bias=0.0,
                                          state_is_tuple=True,
                                          reuse=not is_training)
            if dropping:
                cell = rnn_cell.DropoutWrapper(
                    cell, output_keep_prob=config.keep_prob)
            return cell

        cell = rnn_cell.MultiRNNCell(
            [make_cell() for _ in range(config.num_layers)], state_is_tuple=True)
        self.initial_state = cell.zero_state(batch_size, tf.float32)
        state, outputs = self.initial_state, []
        with tf.compat.v1.variable_scope("RNN"):
            for step in range(num_steps):
                if step > 0:
                    tf.compat.v1.get_variable_scope().reuse_variables()
                output, state = cell(inputs[:, step, :], state)
                outputs.append(output)
        self.final_state = state
        output = tf.reshape(tf.concat(outputs, 1), [-1, hidden])
        softmax_w = tf.compat.v1.get_variable("softmax_w", [hidden, vocab])
        softmax_b = tf.compat.v1.get_variable("softmax_b", [vocab])
        logits = tf.reshape(tf.compat.v1.nn.xw_plus_b(output, softmax_w, softmax_b),
                            [batch_size, num_steps, vocab])
        # sequence_loss(average_across_timesteps=False,
        # average_across_batch=True), summed over time.
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=self.targets, logits=logits)
        self.cost = tf.reduce_sum(tf.reduce_mean(loss, axis=0))
        if not is_training:
            return
        self.lr = tf.Variable(0.0, trainable=False)
        tvars = tf.compat.v1.trainable_variables()
        grads, _ = tf.clip_by_global_norm(tf.gradients(self.cost, tvars),
                                          config.max_grad_norm)
        optimizer = tf.compat.v1.train.GradientDescentOptimizer(self.lr)
        self.train_op = optimizer.apply_gradients(zip(grads, tvars))
        self.new_lr = tf.compat.v1.placeholder(tf.float32, [])
        self.lr_update = tf.compat.v1.assign(self.lr, self.new_lr)


def run_epoch(session, model, ids, train=False, max_steps=None,
              print_costs=False, resume=None, checkpoint=None):
    """The tutorial's run_epoch: perplexity over the split, the state
    carried from batch to batch; and the words/s of this call.

    resume: (next batch, costs, iters, state) of an epoch saved part way
    (state None for the zero state); checkpoint(next batch, costs, iters,
    state) is called after every batch, and decides whether to save.
    """
    step0, costs, iters, state = resume or (0, 0.0, 0, None)
    if state is None:
        state = session.run(model.initial_state)
    fetches = {"cost": model.cost, "state": model.final_state}
    if train:
        fetches["train"] = model.train_op
    words0, start = iters, time.time()
    epoch_size = ((len(ids) // model.batch_size) - 1) // model.num_steps
    for step, (x, y) in enumerate(batches(ids, model.batch_size,
                                          model.num_steps)):
        if max_steps is not None and step >= max_steps:
            break
        if step < step0:
            continue
        feed = {model.inputs: x, model.targets: y}
        for i, (c, h) in enumerate(model.initial_state):
            feed[c], feed[h] = state[i][0], state[i][1]
        values = session.run(fetches, feed)
        state = values["state"]
        costs += float(values["cost"])  # in float64, as numpy 1 summed
        iters += model.num_steps
        if print_costs:
            print(f"step cost: {values['cost']:.9g}", flush=True)
        if train and step % max(epoch_size // 10, 1) == 10:  # as the tutorial
            speed = (iters - words0) * model.batch_size / (time.time() - start)
            print(f"{step / epoch_size:.3f} perplexity: "
                  f"{math.exp(costs / iters):.3f} speed: {speed:.0f} wps",
                  flush=True)
        if checkpoint:
            checkpoint(step + 1, costs, iters, state)
    words = (iters - words0) * model.batch_size
    return math.exp(costs / max(iters, 1)), words / max(time.time() - start, 1e-9)


class Saves:
    """The run's saves under save_path: a tf.compat.v1 Saver's checkpoint of
    the variables, the carried state beside it ([layers, 2, batch, hidden]
    .npy) and progress.json (the epoch, its next batch and running cost, the
    finished epochs' perplexities), written last so that it only ever names
    a complete save."""

    def __init__(self, tf, session, save_path):
        self.session, self.path, self.count = session, save_path, 0
        # Old saves are removed here, after progress.json names the new one:
        # the Saver's own max_to_keep forgets those of earlier processes.
        self.saver = tf.compat.v1.train.Saver(max_to_keep=None)
        self.progress_file = os.path.join(save_path, "progress.json")

    def load(self):
        """The saved progress ({} for a new run), its variables restored."""
        if not os.path.exists(self.progress_file):
            return {}
        with open(self.progress_file, encoding="utf-8") as file:
            progress = json.load(file)
        self.count = progress["saves"]
        # Names relative to the folder: it may have moved since.
        self.saver.restore(self.session,
                           os.path.join(self.path, progress["checkpoint"]))
        state = progress.get("state")
        progress["state"] = (np.load(os.path.join(self.path, state))
                             if state else None)
        return progress

    def save(self, progress, state=None):
        """Saves the variables, `state` and `progress` (the dict load
        returns)."""
        # A new name each time: progress.json names the last complete save
        # until the next one is complete.
        self.count += 1
        progress = dict(progress, saves=self.count)
        prefix = self.saver.save(self.session,
                                 os.path.join(self.path, "model.ckpt"),
                                 global_step=self.count,
                                 write_meta_graph=False)
        progress["checkpoint"] = os.path.basename(prefix)
        progress["state"] = None
        if state is not None:
            progress["state"] = progress["checkpoint"] + ".state.npy"
            np.save(prefix + ".state.npy", np.asarray(
                [[layer[0], layer[1]] for layer in state]))
        write_json(self.progress_file, progress)
        for old in glob.glob(os.path.join(self.path, "model.ckpt-*")):
            if not os.path.basename(old).startswith(
                    progress["checkpoint"] + "."):
                os.remove(old)


def load_weights(tf, session, path, config):
    """ptb_tf's weights (an .npz of embedding, kernel_L, recurrent_kernel_L,
    bias_L, softmax_w, softmax_b; Keras gate order i, f, c, o) into the
    graph's variables (BasicLSTMCell: one [in + H, 4H] kernel, gates i, j=c,
    f, o)."""
    weights = np.load(path)
    hidden = config.hidden_size

    def tf1_gates(matrix):
        i, f, c, o = np.split(matrix, 4, axis=-1)
        return np.concatenate([i, c, f, o], axis=-1)

    by_name = {"Model/embedding:0": weights["embedding"],
               "Model/softmax_w:0": weights["softmax_w"],
               "Model/softmax_b:0": weights["softmax_b"]}
    for layer in range(config.num_layers):
        cell = f"Model/RNN/multi_rnn_cell/cell_{layer}/basic_lstm_cell"
        by_name[f"{cell}/kernel:0"] = tf1_gates(np.concatenate(
            [weights[f"kernel_{layer}"], weights[f"recurrent_kernel_{layer}"]]))
        by_name[f"{cell}/bias:0"] = tf1_gates(weights[f"bias_{layer}"])
    variables = tf.compat.v1.global_variables()
    names = {variable.name for variable in variables}
    missing = set(by_name) - names
    if missing:
        raise SystemExit(f"tf1_reference.py: no variable {sorted(missing)[0]} "
                         f"in the graph (have {sorted(names)})")
    for variable in variables:
        if variable.name in by_name:
            value = by_name[variable.name]
            assert value.shape == tuple(variable.shape), (variable.name, hidden)
            variable.load(value, session)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_path", required=True)
    parser.add_argument("--model", default="small",
                        choices=["small", "medium", "large", "test"])
    parser.add_argument("--config_json", default=None,
                        help="a ptb_tf Config as JSON, in place of --model")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs to run (default: the config's max_max_epoch)")
    parser.add_argument("--max_steps", type=int, default=None,
                        help="training batches per epoch (default: all)")
    parser.add_argument("--init_from", default=None,
                        help=".npz of ptb_tf weights to start from")
    parser.add_argument("--keep_prob", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--print_costs", action="store_true")
    parser.add_argument("--skip_test", action="store_true")
    parser.add_argument("--save_path", default=None,
                        help="folder to save to and resume from")
    parser.add_argument("--save_every", type=int, default=100,
                        help="training batches between saves")
    parser.add_argument("--stop_after", type=int, default=None,
                        help="training batches this process runs before it "
                             "saves and stops (with --save_path)")
    parser.add_argument("--results_file", default=None,
                        help="JSON file for the perplexities")
    args = parser.parse_args()
    if args.stop_after is not None and not args.save_path:
        raise SystemExit("tf1_reference.py: --stop_after needs --save_path, "
                         "to resume from")
    if args.save_path:
        # Two runs saving into one folder would leave it to neither: the
        # lock ptb_tf.train takes, before TensorFlow starts.
        from ptb_tf import run_lock  # pylint: disable=import-outside-toplevel
        from ptb_tf.errors import UserError  # pylint: disable=import-outside-toplevel
        os.makedirs(args.save_path, exist_ok=True)
        try:
            run_lock.acquire(args.save_path)
        except UserError as error:
            raise SystemExit(f"tf1_reference.py: {error}") from None

    import dataclasses  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from ptb_tf.config import PRESETS, Config  # pylint: disable=import-outside-toplevel
    from ptb_tf.corpus.splits import load_corpus  # pylint: disable=import-outside-toplevel

    if not hasattr(tf.compat.v1.nn.rnn_cell, "BasicLSTMCell") or \
            os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise SystemExit("tf1_reference.py needs tf_keras and "
                         "TF_USE_LEGACY_KERAS=1 (BasicLSTMCell is Keras 2's)")
    if args.config_json:
        with open(args.config_json, encoding="utf-8") as file:
            config = Config.from_dict(json.load(file))
    else:
        config = PRESETS[args.model]
    if args.keep_prob is not None:
        config = dataclasses.replace(config, keep_prob=args.keep_prob)
    corpus = load_corpus(args.data_path)
    config = dataclasses.replace(config, vocab_size=len(corpus.vocab))
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.set_random_seed(args.seed)
    initializer = tf.compat.v1.random_uniform_initializer(-config.init_scale,
                                                          config.init_scale)
    with tf.compat.v1.variable_scope("Model", reuse=None,
                                     initializer=initializer):
        train = Model(tf, config, True, config.batch_size, config.num_steps)
    with tf.compat.v1.variable_scope("Model", reuse=True,
                                     initializer=initializer):
        valid_model = Model(tf, config, False, config.batch_size,
                            config.num_steps)
        test = Model(tf, config, False, 1, 1)
    epochs = args.epochs or config.max_max_epoch
    with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        saves = Saves(tf, session, args.save_path) if args.save_path else None
        progress = saves.load() if saves else {}
        if progress:
            print(f"Resuming from {progress['checkpoint']}: epoch "
                  f"{progress['epoch'] + 1}, batch {progress['step']}",
                  flush=True)
        elif args.init_from:
            load_weights(tf, session, args.init_from, config)
        progress.setdefault("epochs", [])
        batches_run = 0  # by this process, for --stop_after
        for i in range(progress.get("epoch", 0), epochs):
            lr_decay = config.lr_decay ** max(i + 1 - config.max_epoch, 0.0)
            session.run(train.lr_update,
                        {train.new_lr: config.learning_rate * lr_decay})
            print(f"Epoch: {i + 1} Learning rate: "
                  f"{session.run(train.lr):.3f}", flush=True)
            resume = None
            if progress.get("epoch") == i:
                resume = (progress["step"], progress["costs"],
                          progress["iters"], progress["state"])

            def checkpoint(step, costs, iters, state, i=i):
                nonlocal batches_run
                batches_run += 1
                stopping = batches_run == args.stop_after
                if step % args.save_every == 0 or stopping:
                    saves.save(dict(progress, epoch=i, step=step, costs=costs,
                                    iters=iters), state)
                if stopping:
                    print(f"Stopped after {args.stop_after} batches; the same "
                          "command resumes.", flush=True)
                    raise SystemExit(0)

            perplexity, speed = run_epoch(
                session, train, corpus.train, True, args.max_steps,
                args.print_costs, resume, checkpoint if saves else None)
            print(f"Epoch: {i + 1} Train Perplexity: {perplexity:.3f} "
                  f"({speed:.0f} wps)", flush=True)
            valid, _ = run_epoch(session, valid_model, corpus.valid)
            print(f"Epoch: {i + 1} Valid Perplexity: {valid:.3f}",
                  flush=True)
            progress["epochs"].append(
                {"epoch": i + 1, "learning_rate": float(session.run(train.lr)),
                 "train_perplexity": perplexity, "valid_perplexity": valid})
            progress.update(epoch=i + 1, step=0, costs=0.0, iters=0, state=None)
            if saves:
                saves.save(progress)
        if not args.skip_test:
            perplexity, _ = run_epoch(session, test, corpus.test)
            print(f"Test Perplexity: {perplexity:.3f}", flush=True)
            progress["test_perplexity"] = perplexity
        if args.results_file:
            write_json(args.results_file, {
                "command": " ".join(sys.argv),
                "config": dataclasses.asdict(config), "seed": args.seed,
                "epochs": progress["epochs"],
                "test_perplexity": progress.get("test_perplexity")})


if __name__ == "__main__":
    main()
