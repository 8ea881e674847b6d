"""The Zaremba et al. (2014) language model as a Keras 3 subclassed model."""

import keras
import tensorflow as tf

from ptb_tf.model import recurrent
from ptb_tf.options import (CELLS, DROPOUTS, MODEL_RNN_MODES, STATE_PARTS,
                            choice_problem, run_options_problem)

# The longest evaluation window the unrolled mode writes out step by step;
# longer ones (the exact test's 500-step windows) run as a scan: unrolled,
# they took longer to trace than to run (the test config's test, 48 s
# against 6 s).
MAX_UNROLLED_EVAL_STEPS = 64


@keras.saving.register_keras_serializable(package="ptb_tf")
class PTBModel(keras.Model):
    """Embedding -> dropout -> num_layers x (recurrent layer -> dropout) -> logits.

    The recurrent state goes in and comes out explicitly, so a caller carries
    it across batches (truncated BPTT), across evaluation windows, or across
    requests to a server that keeps none:

        state: float32 [num_layers, STATE_PARTS[cell], batch, hidden_size]
               an LSTM's state[layer] is (c, h), the tutorial's
               LSTMStateTuple order; a GRU's or RNN's is (h,).

    Dropout (rate 1 - keep_prob) is applied only in training, only to the
    non-recurrent connections: the embedded inputs and every layer's output,
    the top one included, as the tutorial's DropoutWrapper did. dropout
    "standard" draws a new mask at every time step (the tutorial);
    "variational" one mask per sequence, the same at every step of a batch
    (locked dropout, Gal & Ghahramani 2016). embedding_dropout drops whole
    words: every occurrence of a dropped word in a batch embeds as zeros.

    cell "lstm" (the tutorial's), "gru" or "rnn" (tanh). Each layer is the
    Keras layer of that cell (LSTM and GRU run cuDNN kernels on a GPU); the
    LSTM's forget gate gets no extra bias (the tutorial's forget_bias=0.0) and
    every weight, biases included, starts uniform(-init_scale, init_scale).
    tie_embeddings: the softmax layer's weights are the embedding's
    transpose (its bias stays its own).

    precision "mixed_bfloat16" (or "mixed_float16") keeps every weight
    float32 and runs the matmuls in bfloat16 (float16). In rnn_mode "keras"
    that is Keras's mixed policy, which computes everything else in the
    half type too, the recurrent
    state and the logits included. In "unrolled" only each matmul is in the
    half type (its operands, and its product, which TensorFlow's CPU and GPU
    kernels return in the operands' type); everything computed from the
    products (gates, state, log-softmax, gradient sums) is float32.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int,
                 keep_prob: float = 1.0, init_scale: float = 0.1,
                 rnn_mode: str = "keras", precision: str = "float32",
                 cell: str = "lstm", tie_embeddings: bool = False,
                 dropout: str = "standard", embedding_dropout: float = 0.0,
                 **kwargs):
        # The commands check these with their flags' names; a Python caller
        # gets the same checks as a ValueError.
        problem = (choice_problem("cell", cell, CELLS)
                   or choice_problem("rnn_mode", rnn_mode, MODEL_RNN_MODES)
                   or run_options_problem(rnn_mode, False, precision, cell)
                   or choice_problem("dropout", dropout, DROPOUTS))
        if problem:
            raise ValueError(problem)
        if not 0 <= embedding_dropout < 1:
            raise ValueError("embedding_dropout must be in [0, 1). Received: "
                             f"embedding_dropout={embedding_dropout}")
        # Only the keras mode hands the precision to Keras as a dtype policy;
        # the others compute in float32 and round just the matmul operands.
        kwargs["dtype"] = precision if rnn_mode == "keras" else "float32"
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size),
                            ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{name} must be an integer >= 1. Received: {name}={value}")
        if not 0 < keep_prob <= 1:
            raise ValueError(
                f"keep_prob must be in (0, 1]. Received: keep_prob={keep_prob}")
        if not init_scale > 0:
            raise ValueError(
                f"init_scale must be > 0. Received: init_scale={init_scale}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.keep_prob = keep_prob
        self.init_scale = init_scale
        self.rnn_mode = rnn_mode
        self.precision = precision
        self.cell = cell
        self.tie_embeddings = tie_embeddings
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.state_parts = STATE_PARTS[cell]
        self.operand_dtype = {"mixed_bfloat16": tf.bfloat16,
                              "mixed_float16": tf.float16}.get(precision,
                                                               tf.float32)

        def uniform():
            return keras.initializers.RandomUniform(-init_scale, init_scale)

        # Under a mixed policy the weights stay float32 and the layers
        # compute in bfloat16.
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocab_size, hidden_size, embeddings_initializer=uniform(),
            name="embedding", dtype=policy)
        # Variational: the mask is broadcast over the time axis.
        noise_shape = (None, 1, None) if dropout == "variational" else None
        self.input_dropout = keras.layers.Dropout(
            1.0 - keep_prob, noise_shape=noise_shape, name="input_dropout",
            dtype=policy)
        # Applied to a [vocab, 1] column of ones: a scaled keep-mask per word.
        self.word_dropout = keras.layers.Dropout(
            embedding_dropout, name="word_dropout", dtype=policy)
        # Each layer is an attribute of its own, not only a list entry, so that
        # tf.train.Checkpoint tracks its weights under a stable name.
        self.rnn_layers = []
        self.output_dropouts = []
        for index in range(num_layers):
            layer = _recurrent_layer(cell, hidden_size, uniform,
                                     name=f"{cell}_{index}", dtype=policy)
            dropout_layer = keras.layers.Dropout(
                1.0 - keep_prob, noise_shape=noise_shape,
                name=f"dropout_{index}", dtype=policy)
            # Built now: the unrolled and block modes use its weights without
            # ever calling the layer.
            layer.build((None, None, hidden_size))
            setattr(self, f"{cell}_{index}", layer)
            setattr(self, f"dropout_{index}", dropout_layer)
            self.rnn_layers.append(layer)
            self.output_dropouts.append(dropout_layer)
        if tie_embeddings:
            self.softmax = None
            self.softmax_bias = self.add_weight(
                shape=(vocab_size,), initializer=uniform(),
                name="softmax_bias")
        else:
            self.softmax = keras.layers.Dense(
                vocab_size, kernel_initializer=uniform(),
                bias_initializer=uniform(), name="softmax", dtype=policy)
            # Built now: the unrolled and block modes use its weights directly.
            self.softmax.build((None, hidden_size))
        # Draws the candidates of a sampled softmax (training.sampled_cost);
        # kept here so that checkpoints carry its position.
        self.sampler_seed = keras.random.SeedGenerator(name="sampler_seed")

    def zero_state(self, batch_size) -> tf.Tensor:
        """float32 [num_layers, state_parts, batch_size, hidden_size] zeros."""
        return tf.zeros([self.num_layers, self.state_parts, batch_size,
                         self.hidden_size])

    def softmax_weights(self):
        """kernel float32 [hidden, vocab] and bias [vocab] of the softmax."""
        if self.tie_embeddings:
            return tf.transpose(self.embedding.embeddings), self.softmax_bias
        return self.softmax.kernel, self.softmax.bias

    def call(self, inputs, state=None, training=False):
        """Runs the model over a window of word ids.

        Args:
          inputs: int32 [batch, time] word ids.
          state: float32 [num_layers, state_parts, batch, hidden_size], or
            None for zeros.
          training: applies dropout when True.

        Returns:
          logits: [batch, time, vocab_size], float32, or the half type in
            rnn_mode keras with a mixed precision (cast before a softmax).
          state: float32 [num_layers, state_parts, batch, hidden_size] after
            the last step (float32 whatever the policy).
        """
        outputs, state = self.features(inputs, state, training)
        return self.logits(outputs), state

    def features(self, inputs, state=None, training=False):
        """The top layer's outputs [batch, time, hidden_size] (after dropout)
        and the new state: `call` without the softmax layer."""
        if state is None:
            state = self.zero_state(tf.shape(inputs)[0])
        compute = self.compute_dtype
        outputs = self.input_dropout(self.embed(inputs, training),
                                     training=training)
        state = tf.cast(state, compute)
        new_states = []
        for index, (layer, dropout) in enumerate(
                zip(self.rnn_layers, self.output_dropouts)):
            outputs, layer_state = self._run_layer(
                layer, outputs,
                tuple(state[index, part] for part in range(self.state_parts)),
                training)
            outputs = dropout(outputs, training=training)
            new_states.append(tf.stack(layer_state))
        return outputs, tf.cast(tf.stack(new_states), tf.float32)

    def embed(self, inputs, training=False):
        """int32 [batch, time] -> embeddings [batch, time, hidden_size], whole
        words dropped (zeros) in training if embedding_dropout > 0, the
        others scaled by 1 / (1 - embedding_dropout)."""
        compute = self.compute_dtype
        # Rows gathered from the variable itself (ResourceGather), not from
        # a read of all of it: once the update has scattered into the
        # embedding (its gradient is sparse), TensorFlow copies the whole
        # variable on every dense read, [V, H] a batch (1.3 ms of a small
        # batch's ~33, profiled).
        if not self.embedding.built:
            # Where its call would build it, so weights are made in the same
            # order (their seeds come from one stream in that order).
            self.embedding.build(inputs.shape)
        outputs = tf.cast(tf.gather(self.embedding.embeddings.value, inputs),
                          compute)
        if training and self.embedding_dropout > 0:
            # One draw per vocabulary word, shared by all its occurrences.
            keep = self.word_dropout(tf.ones([self.vocab_size, 1], compute),
                                     training=True)
            outputs = outputs * tf.gather(keep, inputs)
        return outputs

    def logits(self, outputs):
        """outputs [..., hidden_size] -> logits [..., vocab_size]."""
        if self.softmax is not None and self.rnn_mode == "keras":
            return self.softmax(outputs)
        kernel, bias = self.softmax_weights()
        if self.rnn_mode == "keras":
            # Keras's policy: operands and logits in its compute dtype, as
            # the untied Dense layer gives them (the bias reads in it too).
            dtype = tf.as_dtype(self.compute_dtype)
            return tf.cast(recurrent.matmul(tf.cast(outputs, tf.float32),
                                            kernel, dtype),
                           dtype) + tf.cast(bias, dtype)
        return recurrent.matmul(outputs, kernel, self.operand_dtype) + bias

    def _run_layer(self, layer, inputs, state, training):
        """One recurrent layer in the model's rnn_mode -> outputs, state tuple."""
        if self.rnn_mode == "keras":
            if self.cell == "lstm":
                # Keras orders an LSTM state [h, c].
                outputs, h, c = layer(inputs, initial_state=[state[1], state[0]],
                                      training=training)
                return outputs, (c, h)
            outputs, h = layer(inputs, initial_state=[state[0]],
                               training=training)
            return outputs, (h,)
        cell = layer.cell
        weights = (cell.kernel, cell.recurrent_kernel, cell.bias)
        if self.rnn_mode == "block":
            outputs, c, h = recurrent.block_lstm_layer(inputs, *weights, *state)
            return outputs, (c, h)
        steps = inputs.shape[1]
        if steps is not None and (training or steps <= MAX_UNROLLED_EVAL_STEPS):
            return recurrent.unrolled_layer(self.cell, inputs, *weights, state,
                                            self.operand_dtype)
        mask = tf.ones(tf.shape(inputs)[:2], tf.bool)
        outputs, state = recurrent.scan_layer(
            self.cell, tf.transpose(inputs, [1, 0, 2]), *weights, state,
            tf.transpose(mask), self.operand_dtype)
        return tf.transpose(outputs, [1, 0, 2]), state

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                      num_layers=self.num_layers, keep_prob=self.keep_prob,
                      init_scale=self.init_scale, rnn_mode=self.rnn_mode,
                      precision=self.precision, cell=self.cell,
                      tie_embeddings=self.tie_embeddings, dropout=self.dropout,
                      embedding_dropout=self.embedding_dropout)
        return config


def _recurrent_layer(cell, hidden_size, uniform, name, dtype):
    """The Keras layer of `cell`, returning its sequence and final state."""
    common = dict(return_sequences=True, return_state=True,
                  kernel_initializer=uniform(), recurrent_initializer=uniform(),
                  bias_initializer=uniform(), name=name, dtype=dtype)
    if cell == "lstm":
        return keras.layers.LSTM(hidden_size, unit_forget_bias=False, **common)
    if cell == "gru":
        # reset_after=True (Keras's default) is the cuDNN-eligible GRU.
        return keras.layers.GRU(hidden_size, reset_after=True, **common)
    return keras.layers.SimpleRNN(hidden_size, activation="tanh", **common)
