"""How the LSTM layers can run, and which run options go together.

No TensorFlow import: command-line tools check these before it starts.

    keras:    keras.layers.LSTM: cuDNN on a GPU, a tf.while_loop elsewhere.
    unrolled: input projection hoisted, the time loop unrolled in the graph
              (a scan when the window length is unknown).
    block:    TensorFlow's fused BlockLSTMV2 op, the tutorial's BLOCK mode.

All read and write the same weights, so a checkpoint moves between them.
"""

from typing import Optional

RNN_MODES = ("keras", "unrolled", "block")

# The recurrent cells, and how many [batch, hidden] tensors each carries as
# its state (an LSTM its cell state c and output h; a GRU or tanh RNN just h).
# A model's state is float32 [num_layers, STATE_PARTS[cell], batch, hidden],
# the output h last.
STATE_PARTS = {"lstm": 2, "gru": 1, "rnn": 1}

# Numeric precision of training: float32, or bfloat16 or float16 matmuls on
# float32 weights (Keras's mixed policies; float16 with dynamic loss
# scaling). The block mode is float32 only.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def run_options_problem(rnn_mode: str, jit_compile: bool,
                        precision: str, cell: str = "lstm") -> Optional[str]:
    """What is wrong with these training options (a flag-level message), or None."""
    if rnn_mode not in RNN_MODES:
        return (f"--rnn_mode must be one of {', '.join(RNN_MODES)}. "
                f"Received: rnn_mode={rnn_mode}")
    if precision not in PRECISIONS:
        return (f"--precision must be one of {', '.join(PRECISIONS)}. "
                f"Received: precision={precision}")
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
