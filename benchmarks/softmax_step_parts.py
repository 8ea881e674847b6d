r"""Where the test config's training step spends its time under XLA.

    python benchmarks/softmax_step_parts.py

The test config (issue 17's "epoch under 8 s": 23,239 steps, so 0.34 ms a
step) has a 2-unit LSTM and PTB's 10,000-word softmax: a step's work is
nearly all the [batch * num_steps, vocab] = [40, 10000] logits. This times,
in one XLA-compiled loop of --steps iterations each, the softmax layer's
parts built up one at a time with the training loss (`sequence_cost`, the
form XLA trains with), and prints ms per step beside the budget. Untrained
weights: the time does not depend on their values. Run it on a quiet machine.
"""

import statistics
import time

from absl import app
from absl import flags

from ptb_tf import cli
from ptb_tf.config import PRESETS


FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 2000, "Loop iterations per timed call.")
flags.DEFINE_integer("trials", 7, "Timed calls per part (median).")

# An epoch under 8 s over the test config's 23,239 steps.
BUDGET_MS = 8000 / 23239


def parts(tf, config):
    """{name: body(weights, biases, inputs) -> the same three, changed}:
    weights [hidden, vocab], biases [vocab], inputs [batch, time, hidden]."""
    from ptb_tf.model.recurrent import matmul  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.losses import sequence_cost  # pylint: disable=g-import-not-at-top
    shape = [config.batch_size, config.num_steps]
    targets = tf.random.stateless_uniform(shape, [1, 2], 0, config.vocab_size,
                                          tf.int32)

    def logits_of(weights, biases, inputs):
        # As PTBModel.logits computes them in the unrolled path.
        return matmul(inputs, weights) + biases

    def exp_pass(weights, biases, inputs):
        total = tf.reduce_sum(tf.exp(logits_of(weights, biases, inputs)))
        return weights, biases + 1e-9 * total, inputs

    def loss_only(weights, biases, inputs):
        cost = sequence_cost(logits_of(weights, biases, inputs), targets,
                             autodiff=True)
        return weights, biases + 1e-9 * cost, inputs

    def logits_gradient(weights, biases, inputs):
        logits = logits_of(weights, biases, inputs)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            cost = sequence_cost(logits, targets, autodiff=True)
        gradient = tape.gradient(cost, logits)
        return weights, biases - 1e-3 * tf.reduce_sum(gradient, [0, 1]), inputs

    def layer_gradients(weights, biases, inputs):
        with tf.GradientTape() as tape:
            tape.watch([weights, biases, inputs])
            cost = sequence_cost(logits_of(weights, biases, inputs), targets,
                                 autodiff=True)
        gradients = tape.gradient(cost, [weights, biases, inputs])
        return tuple(value - 1e-3 * gradient
                     for value, gradient in zip((weights, biases, inputs),
                                                gradients))

    return {"one exp pass over the logits": exp_pass,
            "the loss (forward)": loss_only,
            "the loss and its gradient to the logits": logits_gradient,
            "the loss and the softmax layer's gradients": layer_gradients}


def main(argv):
    cli.check_no_arguments(argv)
    tf = cli.quiet_tensorflow()
    config = PRESETS["test"]
    uniform = lambda shape, seed: tf.random.stateless_uniform(  # noqa: E731
        shape, [seed, 0], -config.init_scale, config.init_scale)
    start = (uniform([config.hidden_size, config.vocab_size], 1),
             tf.zeros([config.vocab_size]),
             uniform([config.batch_size, config.num_steps, config.hidden_size], 2))
    print(f"test config: logits [{config.batch_size * config.num_steps}, "
          f"{config.vocab_size}]; budget {BUDGET_MS:.3f} ms a step "
          f"(an epoch under 8 s)", flush=True)
    for name, body in parts(tf, config).items():
        @tf.function(jit_compile=True)
        def loop(weights, biases, inputs, body=body):
            _, *values = tf.while_loop(
                lambda index, *_: index < FLAGS.steps,
                lambda index, *values: (index + 1, *body(*values)),
                (0, weights, biases, inputs))
            # Every value reaches the result: nothing is left out as dead.
            return sum(tf.reduce_sum(value) for value in values)

        loop(*start).numpy()  # compiling
        seconds = []
        for _ in range(FLAGS.trials):
            began = time.perf_counter()
            loop(*start).numpy()
            seconds.append(time.perf_counter() - began)
        per_step = 1e3 * statistics.median(seconds) / FLAGS.steps
        print(f"{name}: {per_step:.3f} ms a step "
              f"({per_step / BUDGET_MS:.0%} of the budget; min "
              f"{1e3 * min(seconds) / FLAGS.steps:.3f})", flush=True)


if __name__ == "__main__":
    app.run(main)
