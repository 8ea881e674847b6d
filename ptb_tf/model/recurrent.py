"""The recurrent stack in plain TensorFlow ops, on a PTBModel's weights.

A SavedModel built on these functions needs no Keras (and no ptb_tf) to load,
and loads in TensorFlow Serving's session-based loader. The maths is that of
`keras.layers.LSTM` (gates i, f, c, o; sigmoid and tanh), `keras.layers.GRU`
(reset_after=True: gates z, r, h, a bias for the input and one for the
recurrent projection) and `keras.layers.SimpleRNN` (tanh), which tests check.

A layer's state is a tuple of [batch, hidden] tensors, STATE_PARTS[cell] of
them, the output h last: (c, h) for an LSTM, (h,) for a GRU or an RNN.
"""

import dataclasses
from typing import List, Tuple

import tensorflow as tf

from ptb_tf.options import STATE_PARTS


@dataclasses.dataclass
class StackWeights:
    """The weights of a PTBModel, as tensors or variables.

    embedding [V, H]; per layer kernel [in, G * H], recurrent_kernel
    [H, G * H] and bias ([G * H], or [2, 3 * H] for a GRU: input and recurrent
    bias), G = 4 (LSTM), 3 (GRU) or 1 (RNN); softmax [H + 1, V]: the softmax
    kernel (the embedding's transpose when the model ties them) with its bias
    as the last row, so that scoring adds the bias inside its matmul
    (`target_log_probs`).
    """

    embedding: tf.Tensor
    kernels: List[tf.Tensor]
    recurrent_kernels: List[tf.Tensor]
    biases: List[tf.Tensor]
    softmax: tf.Tensor
    cell: str = "lstm"

    @classmethod
    def from_model(cls, model) -> "StackWeights":
        """Reads the current values of a PTBModel's weights (copies)."""
        cells = [layer.cell for layer in model.rnn_layers]
        softmax_kernel, softmax_bias = model.softmax_weights()
        return cls(
            embedding=tf.identity(model.embedding.embeddings),
            kernels=[tf.identity(cell.kernel) for cell in cells],
            recurrent_kernels=[tf.identity(cell.recurrent_kernel)
                               for cell in cells],
            biases=[tf.identity(cell.bias) for cell in cells],
            softmax=tf.concat([softmax_kernel, softmax_bias[None]], 0),
            cell=model.cell)

    @property
    def softmax_kernel(self):
        """float32 [H, V]. Rows of the front of `softmax`: no copy is made."""
        return self.softmax[:-1]

    @property
    def softmax_bias(self):
        """float32 [V]."""
        return self.softmax[-1]


def matmul(x, w, operand_dtype=tf.float32):
    """x float32 [..., in] @ w float32 [in, out] -> float32 [..., out].

    With operand_dtype bfloat16 the matmul runs at the bfloat16 rate on
    rounded operands, and its product comes back rounded to bfloat16 too
    (TensorFlow's MatMul returns its operands' type; about 3 significant
    digits: a logit near 10 to within 0.03), then float32: everything
    computed from the products (gates, cell state, log-softmax) is float32,
    which kept training within 0.5% of float32 on small where Keras's policy,
    rounding all of it, lost 3%. Each call casts its own copy of w, so the
    gradients of a weight used at every time step are summed in float32.
    """
    if x.shape.rank != 2:
        # As a 2-D matmul: the gradient of an einsum over "..." batch axes
        # runs ~60x slower on the CPU.
        rows = tf.reshape(x, [-1, x.shape[-1]])
        outer = tf.shape(x)[:-1]
        return tf.reshape(matmul(rows, w, operand_dtype),
                          tf.concat([outer, tf.shape(w)[-1:]], 0))
    if operand_dtype == tf.float32:
        return tf.matmul(x, w)
    return tf.cast(tf.matmul(tf.cast(x, operand_dtype),
                             tf.cast(w, operand_dtype)), tf.float32)


def lstm_cell(gates, c):
    """One LSTM update from the gate pre-activations (Keras order i, f, c, o).

    gates: float [batch, 4 * hidden]; c: float [batch, hidden] -> new c and h.
    """
    input_gate, forget_gate, candidate, output_gate = tf.split(gates, 4, -1)
    new_c = tf.sigmoid(forget_gate) * c + tf.sigmoid(input_gate) * tf.tanh(candidate)
    return new_c, tf.sigmoid(output_gate) * tf.tanh(new_c)


def unrolled_lstm_layer(inputs, kernel, recurrent_kernel, bias, c, h,
                        operand_dtype=tf.float32):
    """An LSTM layer over a window of static length, unrolled in the graph.

    inputs: float [batch, time, in] with time known when tracing;
    c, h: float [batch, hidden]. Returns outputs [batch, time, hidden], c, h.
    The input projection of all steps is one matmul; without a loop
    construct, the graph has no per-step loop overhead; the backward pass is
    written out (see _unrolled_time_loop). operand_dtype: see `matmul`.
    """
    projected = matmul(inputs, kernel, operand_dtype) + bias
    return _unrolled_time_loop(operand_dtype)(
        projected, tf.convert_to_tensor(recurrent_kernel), c, h)


def _unrolled_time_loop(operand_dtype):
    """The recurrence of an LSTM layer, with a hand-written backward pass.

    Returns f(projected [batch, time, 4 * hidden], recurrent_kernel
    [hidden, 4 * hidden], c, h [batch, hidden]) -> outputs [batch, time,
    hidden], c, h. Autodiff of the unrolled loop would compute the recurrent
    kernel's gradient as `time` small matmuls (inner dimension: the batch)
    and add them up; here it is one matmul over all steps at once, and the
    kernel is rounded to operand_dtype once, not at every step. Steps are
    sliced from and stacked into the batch-major tensors directly: time-major
    copies cost four transposes of a layer's window a batch (21 of a medium
    bf16 batch's ~700 ms of op time, profiled beside a training run).
    """

    def product(x, w, transpose_b=False):
        # Operands in operand_dtype, result float32 (see `matmul`).
        result = tf.matmul(tf.cast(x, operand_dtype), w, transpose_b=transpose_b)
        return tf.cast(result, tf.float32)

    @tf.custom_gradient
    def time_loop(projected, recurrent_kernel, c, h):
        kernel = tf.cast(recurrent_kernel, operand_dtype)
        initial_h = h
        cells, outputs, gates = [c], [], []
        # One Unpack, not a strided slice per step.
        for projected_step in tf.unstack(projected, axis=1):
            input_gate, forget_gate, candidate, output_gate = tf.split(
                projected_step + product(h, kernel), 4, -1)
            step_gates = (tf.sigmoid(input_gate), tf.sigmoid(forget_gate),
                          tf.tanh(candidate), tf.sigmoid(output_gate))
            i, f, g, o = step_gates
            c = f * c + i * g
            h = o * tf.tanh(c)
            cells.append(c)
            outputs.append(h)
            gates.append(step_gates)
        outputs_tensor = tf.stack(outputs, axis=1)

        def gradient(outputs_grad, c_grad, h_grad):
            c_next = tf.zeros_like(c) if c_grad is None else c_grad
            h_next = tf.zeros_like(h) if h_grad is None else h_grad
            if outputs_grad is None:
                outputs_grad = tf.zeros_like(outputs_tensor)
            gates_grads = [None] * len(outputs)
            outputs_grads = tf.unstack(outputs_grad, axis=1)
            for step in reversed(range(len(outputs))):
                i, f, g, o = gates[step]
                tanh_c = tf.tanh(cells[step + 1])
                h_step = outputs_grads[step] + h_next
                c_step = c_next + h_step * o * (1 - tanh_c * tanh_c)
                gates_grads[step] = tf.concat([
                    c_step * g * i * (1 - i),
                    c_step * cells[step] * f * (1 - f),
                    c_step * i * (1 - g * g),
                    h_step * tanh_c * o * (1 - o)], -1)
                c_next = c_step * f
                h_next = product(gates_grads[step], kernel, transpose_b=True)
            projected_grad = tf.stack(gates_grads, axis=1)
            previous = tf.stack([initial_h] + outputs[:-1], axis=1)
            hidden = previous.shape[-1]
            kernel_grad = tf.matmul(
                tf.cast(tf.reshape(previous, [-1, hidden]), operand_dtype),
                tf.cast(tf.reshape(projected_grad, [-1, 4 * hidden]),
                        operand_dtype), transpose_a=True)
            return (projected_grad, tf.cast(kernel_grad, tf.float32), c_next,
                    h_next)

        return (outputs_tensor, c, h), gradient

    return time_loop


def block_lstm_layer(inputs, kernel, recurrent_kernel, bias, c, h):
    """An LSTM layer as TensorFlow's fused BlockLSTMV2 op (the tutorial's BLOCK).

    Same arguments and results as unrolled_lstm_layer, any time length. The op
    takes one [in + hidden, 4 * hidden] matrix with the gates in i, f, c, o
    order, the Keras layout (V1 of the op used i, c, f, o), so checkpoints are
    shared with the other modes.
    """
    weights = tf.concat([kernel, recurrent_kernel], 0)
    # Tensors, not variables, go in: the custom gradient then flows back
    # through the reads to the variables.
    cs, hs = _block_lstm(tf.transpose(inputs, [1, 0, 2]), c, h, weights,
                         tf.identity(bias))
    return tf.transpose(hs, [1, 0, 2]), cs[-1], hs[-1]


@tf.custom_gradient
def _block_lstm(inputs, c, h, weights, bias):
    """BlockLSTMV2 with its own gradient, BlockLSTMGradV2.

    TensorFlow registers for BlockLSTMV2 the gradient of BlockLSTM (V1), whose
    kernel assumes the V1 gate order, so the stock gradient is wrong (a test
    compares with the unrolled layer). inputs: [time, batch, in] -> the cell
    states cs and outputs hs, each [time, batch, hidden].
    """
    no_peephole = tf.zeros([tf.shape(h)[-1]], inputs.dtype)
    arguments = dict(seq_len_max=tf.cast(tf.shape(inputs)[0], tf.int64),
                     x=inputs, cs_prev=c, h_prev=h, w=weights, wci=no_peephole,
                     wcf=no_peephole, wco=no_peephole, b=bias)
    # cell_clip <= 0: no clipping.
    i, cs, f, o, ci, co, hs = tf.raw_ops.BlockLSTMV2(
        cell_clip=0.0, use_peephole=False, **arguments)

    def gradient(cs_grad, hs_grad):
        cs_grad = tf.zeros_like(cs) if cs_grad is None else cs_grad
        hs_grad = tf.zeros_like(hs) if hs_grad is None else hs_grad
        (inputs_grad, c_grad, h_grad, weights_grad, _, _, _,
         bias_grad) = tf.raw_ops.BlockLSTMGradV2(
             i=i, cs=cs, f=f, o=o, ci=ci, co=co, h=hs, cs_grad=cs_grad,
             h_grad=hs_grad, use_peephole=False, **arguments)
        return inputs_grad, c_grad, h_grad, weights_grad, bias_grad

    return (cs, hs), gradient


def input_projection(cell, inputs, kernel, bias, operand_dtype=tf.float32):
    """inputs [..., in] -> the input part of the gate pre-activations
    [..., G * hidden], its bias added (a GRU's input bias)."""
    return matmul(inputs, kernel, operand_dtype) + (bias[0] if cell == "gru"
                                                    else bias)


def cell_step(cell, projected, state: Tuple[tf.Tensor, ...], recurrent_kernel,
              bias, operand_dtype=tf.float32) -> Tuple[tf.Tensor, ...]:
    """One time step of `cell` -> the new state tuple (h last).

    projected: float32 [batch, G * hidden], input_projection at this step;
    state: the layer's state tuple; recurrent_kernel [hidden, G * hidden].
    """
    recurrent = matmul(state[-1], recurrent_kernel, operand_dtype)
    if cell == "lstm":
        return lstm_cell(projected + recurrent, state[0])
    if cell == "gru":
        # reset_after: the reset gate scales the recurrent candidate term,
        # recurrent bias included (the cuDNN formulation).
        recurrent += bias[1]
        x_z, x_r, x_h = tf.split(projected, 3, -1)
        r_z, r_r, r_h = tf.split(recurrent, 3, -1)
        update = tf.sigmoid(x_z + r_z)
        reset = tf.sigmoid(x_r + r_r)
        candidate = tf.tanh(x_h + reset * r_h)
        return (update * state[0] + (1 - update) * candidate,)
    if cell == "rnn":
        return (tf.tanh(projected + recurrent),)
    raise ValueError(f"cell must be one of {', '.join(STATE_PARTS)}. "
                     f"Received: cell={cell}")


def unrolled_layer(cell, inputs, kernel, recurrent_kernel, bias,
                   state: Tuple[tf.Tensor, ...], operand_dtype=tf.float32):
    """A layer of any cell over a window of static length, unrolled.

    inputs: float32 [batch, time, in], time known when tracing. Returns
    outputs [batch, time, hidden] and the final state tuple. An LSTM takes
    unrolled_lstm_layer (a hand-written backward pass); the others autodiff.
    """
    if cell == "lstm":
        outputs, c, h = unrolled_lstm_layer(inputs, kernel, recurrent_kernel,
                                            bias, *state, operand_dtype)
        return outputs, (c, h)
    projected = input_projection(cell, inputs, kernel, bias, operand_dtype)
    outputs = []
    for step in range(inputs.shape[1]):
        state = cell_step(cell, projected[:, step], state, recurrent_kernel,
                          bias, operand_dtype)
        outputs.append(state[-1])
    return tf.stack(outputs, axis=1), state


def scan_layer(cell, inputs, kernel, recurrent_kernel, bias,
               state: Tuple[tf.Tensor, ...], mask, operand_dtype=tf.float32):
    """One layer over time, holding the state where the mask is False.

    inputs: float32 [time, batch, in] (time-major, any length); mask: bool
    [time, batch]; state: the layer's state tuple; operand_dtype: see
    `matmul`. Returns outputs float32 [time, batch, hidden] and the final
    state tuple.
    """
    # The input projection of every step in one matmul; only the recurrent
    # matmul stays inside the loop.
    projected = input_projection(cell, inputs, kernel, bias, operand_dtype)
    # Rounded once, not at every step (`matmul` leaves a kernel already of
    # operand_dtype as it is): a step at batch 1 reads little more than its
    # kernel, and casting it there too read and wrote it twice more.
    recurrent_kernel = tf.cast(recurrent_kernel, operand_dtype)

    def step(carry, elements):
        projected_t, mask_t = elements
        new = cell_step(cell, projected_t, carry, recurrent_kernel, bias,
                        operand_dtype)
        keep = mask_t[:, None]
        return tuple(tf.where(keep, n, o) for n, o in zip(new, carry))

    states = tf.scan(step, (projected, mask), initializer=tuple(state))
    return states[-1], tuple(part[-1] for part in states)


def run_stack(weights: StackWeights, ids, mask, state):
    """Runs the embedding and every recurrent layer over id sequences.

    ids: int32 [batch, time] (time >= 1); mask: bool [batch, time], False on
    padding, which leaves the state as it was; state: float32
    [num_layers, STATE_PARTS[cell], batch, hidden].
    Returns outputs float32 [batch, time, hidden] of the top layer and the new
    state, shaped as `state`.

    The layers run as a wavefront: one loop of time + layers - 1 iterations,
    in which layer l takes step t - l, so that the layers' steps of an
    iteration depend only on the previous iteration and run side by side (two
    layers of small at 64 x 35: 25 ms, against 33-37 ms for one loop per layer,
    timed on a 2-core Zen 4). The first layer's input projection is still one
    matmul over all steps; the layers above project their input step by step.
    """
    cell = weights.cell
    num_layers = len(weights.kernels)
    parts = STATE_PARTS[cell]
    delay = num_layers - 1
    inputs = tf.transpose(tf.gather(weights.embedding, ids), [1, 0, 2])
    projected = input_projection(cell, inputs, weights.kernels[0],
                                 weights.biases[0])
    # Iteration t feeds the first layer step t (nothing past the end) and
    # layer l step t - l, under that step's mask; a layer before its first
    # step or after its last is masked out, which holds its state.
    projected = tf.pad(projected, [[0, delay], [0, 0], [0, 0]])
    time = tf.shape(ids)[1]
    padded_mask = tf.pad(tf.transpose(mask), [[delay, delay], [0, 0]])
    masks = tf.stack([padded_mask[delay - layer:delay - layer + time + delay]
                      for layer in range(num_layers)], axis=1)

    def iteration(carry, elements):
        first_projected, layer_masks = elements
        carry = [carry[layer * parts:(layer + 1) * parts]
                 for layer in range(num_layers)]
        new = []
        for layer, (kernel, recurrent_kernel, bias) in enumerate(zip(
                weights.kernels, weights.recurrent_kernels, weights.biases)):
            layer_projected = first_projected if layer == 0 else (
                input_projection(cell, carry[layer - 1][-1], kernel, bias))
            stepped = cell_step(cell, layer_projected, carry[layer],
                                recurrent_kernel, bias)
            keep = layer_masks[layer][:, None]
            new.extend(tf.where(keep, n, o)
                       for n, o in zip(stepped, carry[layer]))
        return tuple(new)

    states = tf.scan(iteration, (projected, masks), initializer=tuple(
        state[layer, part] for layer in range(num_layers)
        for part in range(parts)))
    outputs = states[-1][delay:]
    new_state = tf.stack([tf.stack([part[-1] for part in
                                    states[layer * parts:(layer + 1) * parts]])
                          for layer in range(num_layers)])
    return tf.transpose(outputs, [1, 0, 2]), new_state


def step_stack(weights: StackWeights, ids, state):
    """One time step of the whole stack, with no loop (a single request step,
    and the TFLite model, whose converter gains nothing from a loop of one).

    ids: int32 [batch]; state: float32 [num_layers, STATE_PARTS[cell], batch,
    hidden]. Returns the new state, shaped as `state`.
    """
    inputs = tf.gather(weights.embedding, ids)
    parts = STATE_PARTS[weights.cell]
    new_states = []
    for layer, (kernel, recurrent_kernel, bias) in enumerate(zip(
            weights.kernels, weights.recurrent_kernels, weights.biases)):
        layer_state = cell_step(
            weights.cell, input_projection(weights.cell, inputs, kernel, bias),
            tuple(state[layer, part] for part in range(parts)),
            recurrent_kernel, bias)
        new_states.append(tf.stack(layer_state))
        inputs = layer_state[-1]
    return tf.stack(new_states)


def target_log_probs(weights: StackWeights, outputs, ids, rows: int = 512):
    """log P(ids[n] | outputs[n]) float32 [N], for outputs float32 [N, hidden]
    and ids int32 [N].

    The softmax runs over blocks of at most `rows` rows, so that a request
    never holds more than [rows, vocab] logits at once (a [N, vocab] block
    for a long request would cost N * vocab * 4 bytes: 512 MB for 12,800
    tokens of PTB); each block is still one matmul, at the batched rate. The
    blocks are of equal size, so that padding adds fewer rows than there are
    blocks (2,240 tokens: 5 blocks of 448, not 3 of 1,024 with 832 padded).

    After the matmul a block makes two passes over its logits, the fewest a
    log-softmax can: exp and a sum (`shifted_exp`). The bias is added inside
    the matmul (a column of ones beside the outputs, against the bias row of
    `weights.softmax`). Without the bias pass and the max pass the softmax of
    64 x 35 words of small took 52 ms, 41-43 of them the matmul, against
    59-62 ms with them (timed on a 2-core Zen 4).
    """
    count = tf.shape(ids)[0]
    blocks = tf.maximum((count + rows - 1) // rows, 1)
    size = (count + blocks - 1) // blocks
    padding = blocks * size - count
    outputs = tf.reshape(tf.pad(outputs, [[0, padding], [0, 0]]),
                         [blocks, size, -1])
    ids = tf.reshape(tf.pad(ids, [[0, padding]]), [blocks, size])

    def block(elements):
        block_outputs, block_ids = elements
        with_ones = tf.concat(
            [block_outputs, tf.ones([tf.shape(block_outputs)[0], 1])], 1)
        logits = tf.matmul(with_ones, weights.softmax)
        _, sums, shift = shifted_exp(logits)
        return (tf.gather(logits, block_ids, batch_dims=1)
                - tf.squeeze(tf.math.log(sums) + shift, -1))

    # One block at a time: map_fn's default of 10 in flight would hold ten.
    log_probs = tf.map_fn(block, (outputs, ids), parallel_iterations=1,
                          fn_output_signature=tf.float32)
    return tf.reshape(log_probs, [-1])[:count]


def shifted_exp(logits):
    """exp(logits - shift), its sum over the last axis, and the shift.

    logits: float32 [..., vocab] -> exp [..., vocab], sums [..., 1], shift
    [..., 1]; log softmax = logits - shift - log(sums). A log-softmax usually
    subtracts each row's maximum first, a pass over the logits to find it
    and one to subtract it. In float32, exp is exact enough for any logit in
    about (-87, 88), where a language model's logits are, so here the shift
    is 0 and those two passes are saved; only if some row's sum leaves
    [1e-30, 1e30] (a logit near the ends of that range) is the whole tensor
    done again with the maximum, so the result is the stable one for every
    input. With a GPU the maximum is always used: there the passes are cheap
    and the check, a branch on a GPU value, would stall the host every step.
    """
    def stable():
        top = tf.reduce_max(logits, -1, keepdims=True)
        shifted = tf.exp(logits - top)
        return shifted, tf.reduce_sum(shifted, -1, keepdims=True), top

    if tf.config.list_logical_devices("GPU"):
        return stable()
    exp = tf.exp(logits)
    sums = tf.reduce_sum(exp, -1, keepdims=True)
    in_range = tf.reduce_all((sums > 1e-30) & (sums < 1e30))
    return tf.cond(in_range, lambda: (exp, sums, tf.zeros_like(sums)), stable)


def log_softmax_logits(weights: StackWeights, outputs):
    """outputs float32 [..., hidden] -> log-probabilities float32 [..., vocab]."""
    logits = tf.tensordot(outputs, weights.softmax_kernel, 1) + weights.softmax_bias
    return tf.nn.log_softmax(logits)
