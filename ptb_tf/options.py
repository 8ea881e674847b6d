"""Every choice a user makes by name, and the run options checked together.

No TensorFlow import: command-line tools check these before it starts.

How the recurrent layers can run (all read and write the same weights, so a
checkpoint moves between them):

    auto:     a run's default, chosen from the hardware when it starts
              (resolve_auto): keras on a GPU, unrolled compiled with XLA
              on a CPU, the fastest measured on each.
    keras:    keras.layers.LSTM/GRU/SimpleRNN: cuDNN on a GPU, a
              tf.while_loop elsewhere.
    unrolled: input projection hoisted, the time loop unrolled in the graph
              (a scan when the window length is unknown, or for evaluation
              windows over ptb_model.MAX_UNROLLED_EVAL_STEPS steps).
    block:    TensorFlow's fused BlockLSTMV2 op, the tutorial's BLOCK mode.
"""

import dataclasses
from typing import Optional, Sequence, Tuple


# The modes a model runs; a run also takes "auto" (resolve_auto).
MODEL_RNN_MODES = ("keras", "unrolled", "block")
AUTO = "auto"
RNN_MODES = (AUTO,) + MODEL_RNN_MODES

# The recurrent cells, and how many [batch, hidden] tensors each carries as
# its state (an LSTM its cell state c and output h; a GRU or tanh RNN just h).
# A model's state is float32 [num_layers, STATE_PARTS[cell], batch, hidden],
# the output h last.
STATE_PARTS = {"lstm": 2, "gru": 1, "rnn": 1}
CELLS = tuple(STATE_PARTS)

# Numeric precision of training: float32, or bfloat16 or float16 matmuls on
# float32 weights (Keras's mixed policies; float16 with dynamic loss
# scaling). The block mode is float32 only.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

# The tutorial's --rnn_mode values (any case) and the mode each became:
# CUDNN ran cuDNN's fused LSTM (Keras's LSTM layer runs it on a GPU), BASIC
# the graph-unrolled BasicLSTMCell, BLOCK the fused LSTMBlockCell op.
TUTORIAL_RNN_MODES = {"cudnn": "keras", "basic": "unrolled", "block": "block"}

DROPOUTS = ("standard", "variational")
SOFTMAXES = ("full", "sampled")
# How text is cut into tokens.
LEVELS = ("word", "char")
STRATEGIES = ("default", "mirrored", "multi_worker")
# What a non-finite loss does: stop with a message, or restore the latest
# checkpoint and halve the learning rate.
ON_NAN = ("stop", "restore")
PROGRESS = ("auto", "bar", "lines")
# Which checkpoint of a run a tool reads.
BEST, LATEST = "best", "latest"
CHECKPOINTS = (BEST, LATEST)


def tutorial_rnn_mode(value: str) -> Tuple[str, Optional[str]]:
    """ptb_tf's rnn_mode for a value of ours or the tutorial's, and the line
    that says what a tutorial value became (None for one of ours)."""
    if value in RNN_MODES or value.lower() not in TUTORIAL_RNN_MODES:
        return value, None
    mode = TUTORIAL_RNN_MODES[value.lower()]
    return mode, (f"--rnn_mode={value} (the tutorial's): running "
                  f"--rnn_mode={mode}")


def choice_problem(name: str, value, choices: Sequence[str]) -> Optional[str]:
    """The flag-level message for a value outside `choices`, or None."""
    if value in choices:
        return None
    return (f"--{name} must be one of {', '.join(choices)}. "
            f"Received: {name}={value}")


def run_options_problem(rnn_mode: str, jit_compile: bool,
                        precision: str, cell: str = "lstm") -> Optional[str]:
    """What is wrong with these model options (a flag-level message), or None."""
    problem = (choice_problem("rnn_mode", rnn_mode, RNN_MODES)
               or choice_problem("precision", precision, PRECISIONS))
    if problem:
        return problem
    if rnn_mode == "block" and precision != "float32":
        return ("--rnn_mode=block runs in float32 only: the fused op has no "
                "half-precision kernel; use --rnn_mode=unrolled")
    if rnn_mode == "block" and cell != "lstm":
        return (f"--rnn_mode=block runs LSTM cells only (the fused op is an "
                f"LSTM); use --rnn_mode=unrolled or keras for --cell={cell}")
    if rnn_mode == "block" and jit_compile:
        return ("--rnn_mode=block cannot be used with --jit_compile: XLA has "
                "no kernel for the fused BlockLSTMV2 op; use "
                "--rnn_mode=unrolled with --jit_compile")
    return None


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a training run runs, beside what it trains (the Config).

    None of these changes the model a run reaches beyond float rounding, so
    none is part of a run's identity: a run may resume with other options.
    checkpoint_every: batches between checkpoints in an epoch (0: a tenth
    of it). verbosity: 0 only the test line, 1 a line per epoch event, 2 the
    progress within each epoch too (lines, or a bar with progress_bar).
    strategy: the tf.distribute strategy's name (ptb_tf.training.distributed).
    rnn_mode "auto" becomes a concrete mode when the run starts
    (resolve_auto); results.json records the mode that ran.
    """

    rnn_mode: str = AUTO
    precision: str = "float32"
    jit_compile: bool = False
    seed: int = 0
    eval_window: int = 500
    checkpoint_every: int = 0
    on_nan: str = "stop"
    strategy: str = "default"
    num_gpus: int = 0
    verbosity: int = 2
    progress_bar: bool = False

    def problem(self, cell: str = "lstm",
                save_path: Optional[str] = None) -> Optional[str]:
        """What is wrong with these options for a run of `cell` saved in
        save_path (a flag-level message), or None."""
        problem = (run_options_problem(self.rnn_mode, self.jit_compile,
                                       self.precision, cell)
                   or choice_problem("on_nan", self.on_nan, ON_NAN)
                   or choice_problem("strategy", self.strategy, STRATEGIES))
        if problem:
            return problem
        if self.checkpoint_every < 0:
            return ("--checkpoint_every must be >= 0 (0: every tenth of an "
                    f"epoch). Received: checkpoint_every={self.checkpoint_every}")
        if self.on_nan == "restore" and not save_path:
            return ("--on_nan=restore needs --save_path: it restores the "
                    "latest checkpoint written there")
        if self.num_gpus < 0:
            return f"--num_gpus must be >= 0. Received: num_gpus={self.num_gpus}"
        if self.strategy != "default" and self.jit_compile:
            # Measured: XLA compiling a MirroredStrategy replica step over
            # logical CPU devices reads a variable of another device
            # ("Trying to access resource ... located in device CPU:1").
            return ("--jit_compile is for one device: XLA does not compile "
                    f"the replicas' step of --strategy={self.strategy} here; "
                    "drop one of the two")
        if not 0 <= self.seed < 2**32:
            return ("--seed must be a whole number from 0 to 2**32 - 1. "
                    f"Received: seed={self.seed}")
        if self.eval_window < 1:
            return f"--eval_window must be >= 1. Received: eval_window={self.eval_window}"
        return None


def resolve_auto(options: RunOptions, on_gpu: bool,
                 one_device: bool = True) -> RunOptions:
    """options with rnn_mode "auto" made concrete for the hardware.

    On a GPU: keras (Keras's layers run cuDNN's kernels). On a CPU:
    unrolled, compiled with XLA when training runs on one device (XLA does
    not compile a tf.distribute strategy's replica step): the fastest
    float32 path measured on a CPU for every preset, the test config's
    epoch 4x faster than keras (docs/performance.md). Other modes are
    returned unchanged.
    """
    if options.rnn_mode != AUTO:
        return options
    if on_gpu:
        return dataclasses.replace(options, rnn_mode="keras")
    return dataclasses.replace(options, rnn_mode="unrolled",
                               jit_compile=options.jit_compile or one_device)
