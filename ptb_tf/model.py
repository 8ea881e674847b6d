"""The Zaremba et al. (2014) LSTM language model as a Keras 3 subclassed model."""

import keras
import tensorflow as tf

from ptb_tf import recurrent
from ptb_tf.model_modes import PRECISIONS, RNN_MODES


@keras.saving.register_keras_serializable(package="ptb_tf")
class PTBModel(keras.Model):
    """Embedding -> dropout -> num_layers x (LSTM -> dropout) -> dense logits.

    The recurrent state goes in and comes out explicitly, so a caller carries
    it across batches (truncated BPTT), across evaluation windows, or across
    requests to a server that keeps none:

        state: float32 [num_layers, 2, batch, hidden_size]
               state[layer, 0] is the cell state c, state[layer, 1] the output h
               (the tutorial's LSTMStateTuple order).

    Dropout (rate 1 - keep_prob) is applied only in training, only to the
    non-recurrent connections: the embedded inputs and every layer's output,
    the top one included, as the tutorial's DropoutWrapper did.

    Each layer is a `keras.layers.LSTM`, which runs the cuDNN kernel on a GPU
    and a `tf.while_loop` elsewhere; the forget gate gets no extra bias
    (the tutorial's forget_bias=0.0) and every weight, biases included, starts
    uniform(-init_scale, init_scale).

    precision "mixed_bfloat16" keeps every weight float32 and runs the
    matmuls in bfloat16. In rnn_mode "keras" that is Keras's mixed_bfloat16
    policy, which computes everything else in bfloat16 too, the LSTM state
    and the logits included. In "unrolled" only the matmul operands are
    rounded: gates, state, logits and gradient sums stay float32.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int,
                 keep_prob: float = 1.0, init_scale: float = 0.1,
                 rnn_mode: str = "keras", precision: str = "float32",
                 **kwargs):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}."
                             f" Received: precision={precision}")
        if rnn_mode == "block" and precision != "float32":
            raise ValueError("rnn_mode=block runs in float32 only (the fused op "
                             "has no bfloat16 kernel). Received: "
                             f"precision={precision}")
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
        if rnn_mode not in RNN_MODES:
            raise ValueError(f"rnn_mode must be one of {', '.join(RNN_MODES)}. "
                             f"Received: rnn_mode={rnn_mode}")
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
        self.operand_dtype = (tf.bfloat16 if precision == "mixed_bfloat16"
                              else tf.float32)

        def uniform():
            return keras.initializers.RandomUniform(-init_scale, init_scale)

        # Under a mixed policy the weights stay float32 and the layers
        # compute in bfloat16.
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocab_size, hidden_size, embeddings_initializer=uniform(),
            name="embedding", dtype=policy)
        self.input_dropout = keras.layers.Dropout(1.0 - keep_prob,
                                                  name="input_dropout",
                                                  dtype=policy)
        # Each layer is an attribute of its own, not only a list entry, so that
        # tf.train.Checkpoint tracks its weights under a stable name.
        self.lstm_layers = []
        self.output_dropouts = []
        for index in range(num_layers):
            lstm = keras.layers.LSTM(
                hidden_size, return_sequences=True, return_state=True,
                unit_forget_bias=False, kernel_initializer=uniform(),
                recurrent_initializer=uniform(), bias_initializer=uniform(),
                name=f"lstm_{index}", dtype=policy)
            dropout = keras.layers.Dropout(1.0 - keep_prob,
                                           name=f"dropout_{index}", dtype=policy)
            # Built now: the unrolled and block modes use its weights without
            # ever calling the layer.
            lstm.build((None, None, hidden_size))
            setattr(self, f"lstm_{index}", lstm)
            setattr(self, f"dropout_{index}", dropout)
            self.lstm_layers.append(lstm)
            self.output_dropouts.append(dropout)
        self.softmax = keras.layers.Dense(
            vocab_size, kernel_initializer=uniform(),
            bias_initializer=uniform(), name="softmax", dtype=policy)
        # Built now: the unrolled and block modes use its weights directly.
        self.softmax.build((None, hidden_size))

    def zero_state(self, batch_size) -> tf.Tensor:
        """float32 [num_layers, 2, batch_size, hidden_size] zeros."""
        return tf.zeros([self.num_layers, 2, batch_size, self.hidden_size])

    def call(self, inputs, state=None, training=False):
        """Runs the model over a window of word ids.

        Args:
          inputs: int32 [batch, time] word ids.
          state: float32 [num_layers, 2, batch, hidden_size], or None for zeros.
          training: applies dropout when True.

        Returns:
          logits: [batch, time, vocab_size], float32, or bfloat16 in rnn_mode
            keras with precision mixed_bfloat16 (cast before a softmax).
          state: float32 [num_layers, 2, batch, hidden_size] after the last
            step (float32 whatever the policy, so callers carry one type).
        """
        if state is None:
            state = self.zero_state(tf.shape(inputs)[0])
        compute = self.compute_dtype
        outputs = tf.cast(self.embedding(inputs), compute)
        outputs = self.input_dropout(outputs, training=training)
        state = tf.cast(state, compute)
        new_states = []
        for index, (lstm, dropout) in enumerate(
                zip(self.lstm_layers, self.output_dropouts)):
            outputs, c, h = self._run_layer(lstm, outputs, state[index, 0],
                                            state[index, 1], training)
            outputs = dropout(outputs, training=training)
            new_states.append(tf.stack([c, h]))
        if self.rnn_mode == "keras":
            logits = self.softmax(outputs)
        else:
            logits = recurrent.matmul(outputs, self.softmax.kernel,
                                      self.operand_dtype) + self.softmax.bias
        return logits, tf.cast(tf.stack(new_states), tf.float32)

    def _run_layer(self, lstm, inputs, c, h, training):
        """One LSTM layer in the model's rnn_mode -> outputs, c, h."""
        if self.rnn_mode == "keras":
            # Keras orders an LSTM state [h, c].
            outputs, h, c = lstm(inputs, initial_state=[h, c], training=training)
            return outputs, c, h
        cell = lstm.cell
        weights = (cell.kernel, cell.recurrent_kernel, cell.bias)
        if self.rnn_mode == "block":
            return recurrent.block_lstm_layer(inputs, *weights, c, h)
        if inputs.shape[1] is not None:
            return recurrent.unrolled_lstm_layer(inputs, *weights, c, h,
                                                 self.operand_dtype)
        mask = tf.ones(tf.shape(inputs)[:2], tf.bool)
        outputs, c, h = recurrent.lstm_layer(
            tf.transpose(inputs, [1, 0, 2]), *weights, c, h, tf.transpose(mask),
            self.operand_dtype)
        return tf.transpose(outputs, [1, 0, 2]), c, h

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                      num_layers=self.num_layers, keep_prob=self.keep_prob,
                      init_scale=self.init_scale, rnn_mode=self.rnn_mode,
                      precision=self.precision)
        return config
