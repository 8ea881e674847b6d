"""The exportable language model: a tf.Module whose signatures speak words.

Clients of TensorFlow Serving send and receive words; the vocabulary travels
inside the SavedModel as an asset. Each weight is stored once, as a variable
of this module (no Keras object is tracked), so the SavedModel loads with
plain TensorFlow and in TensorFlow Serving's session-based loader.

Signatures (inputs -> outputs; B batch, T time, V vocabulary, L layers,
H hidden; sequences are padded at the end with "" to a common length):

    serving_default  words string [B, T] -> top_words string [B, K],
                     top_probabilities float32 [B, K]: the next word after
                     each sequence.
    score            words string [B, T] -> log_probability float32 [B],
                     num_tokens int32 [B], perplexity float32 [B],
                     token_log_probabilities float32 [B, T]: each sequence
                     scored from a sentence start (the state after "<eos>").
    score_from_state words string [B, T], state float32 [L, S, B, H] -> the
                     same, plus the new state (for text longer than a request).
    step             words string [B], state -> log_probabilities float32
                     [B, V] of the next word, top_words, top_log_probabilities
                     [B, K] and the new state.
    step_ids         ids int32 [B], state -> the same, for clients with ids.
    ids_to_words     ids int32 [B, T] -> words string [B, T].
    zero_state       batch_size int32 [] -> state of zeros.
    start_state      batch_size int32 [] -> the state after "<eos>": where a
                     sentence starts.
    generate         prefix string [B, P], num_words int32 [], temperature
                     float32 [], top_k int32 [] (0: all), seed int64 [] ->
                     words string [B, num_words], log_probability float32 [B].

S is the number of state tensors per layer: 2 for an LSTM (c, h), 1 for a
GRU or a tanh RNN (h). Natural logarithms throughout. Bad inputs fail with
InvalidArgumentError and a message that says what is wrong.

Every size a request controls (B, T, num_words, top_k, batch_size) is checked
against the export's Limits (ptb_tf/serving/limits.py) before any op whose
size depends on it runs: each signature first passes its inputs through
tf.identity under a control dependency on the checks, and computes only from
those gated copies, so no allocation can be scheduled ahead of a check. A
request over a limit fails with InvalidArgumentError and leaves the server
serving.
"""

import tensorflow as tf

from ptb_tf.corpus.vocab import EOS, UNK, Vocabulary
from ptb_tf.model import recurrent
from ptb_tf.serving import decoding
from ptb_tf.serving import limits


_STRING_BATCH = tf.TensorSpec([None, None], tf.string)


class ServingModule(tf.Module):
    """A trained PTBModel's weights and vocabulary, with serving signatures."""

    def __init__(self, model, vocab_path: str, next_words: int = 10,
                 limits: limits.Limits = limits.DEFAULT):
        super().__init__(name="ptb_language_model")
        self.limits = limits
        vocab = Vocabulary.load(vocab_path)
        if len(vocab) != model.vocab_size:
            raise ValueError(f"vocab.txt has {len(vocab)} words but the model "
                             f"{model.vocab_size}. Received: {vocab_path}")
        weights = recurrent.StackWeights.from_model(model)
        self.embedding = tf.Variable(weights.embedding, name="embedding")
        self.kernels = [tf.Variable(value, name=f"kernel_{index}")
                        for index, value in enumerate(weights.kernels)]
        self.recurrent_kernels = [
            tf.Variable(value, name=f"recurrent_kernel_{index}")
            for index, value in enumerate(weights.recurrent_kernels)]
        self.biases = [tf.Variable(value, name=f"bias_{index}")
                       for index, value in enumerate(weights.biases)]
        self.softmax = tf.Variable(weights.softmax, name="softmax")
        self.num_layers = model.num_layers
        self.cell = model.cell
        self.state_parts = model.state_parts
        self.hidden_size = model.hidden_size
        self.vocab_size = len(vocab)
        self.next_words = min(next_words, self.vocab_size)
        self.eos_id = vocab.ids[EOS] if EOS in vocab.ids else vocab.unk_id

        self.vocab_asset = tf.saved_model.Asset(vocab_path)
        lines = tf.lookup.TextFileIndex
        self.word_to_id = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocab_asset, tf.string, lines.WHOLE_LINE, tf.int64,
                lines.LINE_NUMBER), default_value=vocab.unk_id)
        self.id_to_word = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocab_asset, tf.int64, lines.LINE_NUMBER, tf.string,
                lines.WHOLE_LINE), default_value=UNK)

        state_spec = tf.TensorSpec(
            [self.num_layers, self.state_parts, None, self.hidden_size],
            tf.float32)
        scalar = tf.TensorSpec([], tf.int32)
        self.serving_default = tf.function(
            self._serving_default, input_signature=[_STRING_BATCH])
        self.score = tf.function(self._score, input_signature=[_STRING_BATCH])
        self.score_from_state = tf.function(
            self._score_from_state, input_signature=[_STRING_BATCH, state_spec])
        self.step = tf.function(self._step, input_signature=[
            tf.TensorSpec([None], tf.string), state_spec])
        self.step_ids = tf.function(self._step_ids, input_signature=[
            tf.TensorSpec([None], tf.int32), state_spec])
        self.ids_to_words = tf.function(self._ids_to_words, input_signature=[
            tf.TensorSpec([None, None], tf.int32)])
        self.zero_state = tf.function(self._zero_state,
                                      input_signature=[scalar])
        self.start_state = tf.function(self._start_state,
                                       input_signature=[scalar])
        self.generate = tf.function(self._generate, input_signature=[
            _STRING_BATCH, scalar, tf.TensorSpec([], tf.float32), scalar,
            tf.TensorSpec([], tf.int64)])

    def signatures(self):
        """Signature name -> concrete function, for tf.saved_model.save."""
        names = ("serving_default", "score", "score_from_state", "step",
                 "step_ids", "ids_to_words", "zero_state", "start_state",
                 "generate")
        return {name: getattr(self, name).get_concrete_function()
                for name in names}

    # Building blocks (traced inside the signatures).

    def _weights(self):
        return recurrent.StackWeights(
            self.embedding, self.kernels, self.recurrent_kernels, self.biases,
            self.softmax, self.cell)

    def _lookup(self, words):
        """string [...] -> int32 ids [...]; unknown words -> <unk>."""
        return tf.cast(self.word_to_id.lookup(words), tf.int32)

    def _words(self, ids):
        return self.id_to_word.lookup(tf.cast(ids, tf.int64))

    def next_log_probs(self, state):
        """state [L, S, B, H] -> float32 [B, V] for the word after it."""
        return recurrent.log_softmax_logits(self._weights(), state[-1, -1])

    def _advance(self, ids, mask, state):
        """Feeds ids [B, T] (mask [B, T]) -> top outputs [B, T, H], state."""
        return recurrent.run_stack(self._weights(), ids, mask, state)

    def step_log_probs(self, ids, state):
        """ids int32 [B], state [L, S, B, H] -> log-probabilities float32
        [B, V] of the word after each id, and the new state. No checks: the
        step of the TFLite export as well (ptb_tf/serving/tflite_export.py)."""
        state = recurrent.step_stack(self._weights(), ids, state)
        return self.next_log_probs(state), state

    def _top(self, log_probs):
        top = tf.math.top_k(log_probs, self.next_words)
        return self._words(top.indices), top.values

    # Checks. Each returns assert ops; _gated() makes the inputs wait for them.

    def _at_most(self, value, limit, name):
        return tf.debugging.assert_less_equal(
            value, tf.constant(limit, value.dtype),
            message=f"{name} must be <= {limit} (a limit of this export; "
                    "split the request, or export with a larger limit)")

    def _batch_checks(self, batch_size, name="batch size"):
        return [tf.debugging.assert_non_negative(
                    batch_size, message=f"{name} must be >= 0"),
                self._at_most(batch_size, self.limits.max_batch_size, name)]

    def _sequence_checks(self, tokens, name):
        """tokens [B, T] of strings or ids: B and T within the limits."""
        shape = tf.shape(tokens)
        return (self._batch_checks(shape[0], f"the batch size of {name}")
                + [self._at_most(shape[1], self.limits.max_sequence_length,
                                 f"the length of the sequences in {name}")])

    def _word_checks(self, words, name="words"):
        """words string [B, T]: within the limits, every row with a word."""
        counts = tf.reduce_sum(tf.cast(tf.not_equal(words, ""), tf.int32),
                               axis=1)
        return self._sequence_checks(words, name) + [
            tf.debugging.assert_positive(
                tf.size(words),
                message=f"{name} is empty: send at least one sequence of at "
                        "least one word"),
            tf.debugging.assert_positive(
                counts, message=f"a sequence of {name} has no words (all "
                                "empty strings): every sequence needs at "
                                "least one"),
        ]

    def _id_checks(self, ids):
        """Ids outside the vocabulary fail here: a GPU embedding lookup
        would silently return zeros for them."""
        return [
            tf.debugging.assert_non_negative(ids, message="ids must be >= 0"),
            tf.debugging.assert_less(
                ids, self.vocab_size,
                message=f"ids must be < the vocabulary size {self.vocab_size}"),
        ]

    def _state_checks(self, state, batch_size):
        return [tf.debugging.assert_equal(
            tf.shape(state)[2], batch_size,
            message="state has another batch size than the words: pass the "
                    "state returned for this batch, or zero_state/start_state "
                    "of the same batch size")]

    @staticmethod
    def _gated(checks, *inputs):
        """The inputs, available only once every check has passed."""
        with tf.control_dependencies(checks):
            gated = [tf.identity(value) for value in inputs]
        return gated[0] if len(gated) == 1 else gated

    # The signatures. Each gates its inputs first and uses only the gated ones.

    def _zero_state(self, batch_size):
        batch_size = self._gated(self._batch_checks(batch_size, "batch_size"),
                                 batch_size)
        return {"state": tf.zeros(
            [self.num_layers, self.state_parts, batch_size,
             self.hidden_size])}

    def _start_state(self, batch_size):
        state = self._zero_state(batch_size)["state"]
        ids = tf.fill([tf.shape(state)[2], 1], self.eos_id)
        _, state = self._advance(ids, tf.ones_like(ids, tf.bool), state)
        return {"state": state}

    def _scored(self, words, state):
        """Gated words [B, T] from `state` -> log-probabilities and state."""
        mask = tf.not_equal(words, "")
        ids = self._lookup(words)
        outputs, new_state = self._advance(ids, mask, state)
        # The word at t is predicted from the output at t - 1; the first one
        # from the state passed in.
        previous = tf.concat([state[-1, -1][:, None], outputs[:, :-1]], axis=1)
        # Only the target's log-probability is needed, block by block: no
        # [B, T, V] logits (see recurrent.target_log_probs).
        token_log_probs = tf.where(mask, tf.reshape(
            recurrent.target_log_probs(
                self._weights(), tf.reshape(previous, [-1, self.hidden_size]),
                tf.reshape(ids, [-1])), tf.shape(ids)), 0.0)
        total = tf.reduce_sum(token_log_probs, axis=1)
        counts = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        return {"log_probability": total, "num_tokens": counts,
                "perplexity": tf.exp(-total / tf.cast(counts, tf.float32)),
                "token_log_probabilities": token_log_probs,
                "state": new_state}

    def _score_from_state(self, words, state):
        checks = self._word_checks(words) + self._state_checks(
            state, tf.shape(words)[0])
        return self._scored(*self._gated(checks, words, state))

    def _score(self, words):
        words = self._gated(self._word_checks(words), words)
        result = self._scored(
            words, self._start_state(tf.shape(words)[0])["state"])
        del result["state"]
        return result

    def _serving_default(self, words):
        words = self._gated(self._word_checks(words), words)
        state = self._start_state(tf.shape(words)[0])["state"]
        _, state = self._advance(self._lookup(words), tf.not_equal(words, ""),
                                 state)
        top_words, top_log_probs = self._top(self.next_log_probs(state))
        return {"top_words": top_words,
                "top_probabilities": tf.exp(top_log_probs)}

    def _ids_to_words(self, ids):
        checks = self._sequence_checks(ids, "ids") + self._id_checks(ids)
        return {"words": self._words(self._gated(checks, ids))}

    def _stepped(self, ids, state):
        """Gated ids [B] from state -> the step signatures' outputs."""
        log_probs, state = self.step_log_probs(ids, state)
        top_words, top_log_probs = self._top(log_probs)
        return {"log_probabilities": log_probs, "top_words": top_words,
                "top_log_probabilities": top_log_probs, "state": state}

    def _step_checks(self, tokens, state, name):
        """tokens [B], one per sequence, and the state they continue."""
        return (self._batch_checks(tf.size(tokens), f"the batch size of {name}")
                + [tf.debugging.assert_positive(
                    tf.size(tokens), message=f"{name} is empty: send one "
                                             "per sequence")]
                + self._state_checks(state, tf.size(tokens)))

    def _step_ids(self, ids, state):
        checks = self._step_checks(ids, state, "ids") + self._id_checks(ids)
        return self._stepped(*self._gated(checks, ids, state))

    def _step(self, words, state):
        words, state = self._gated(self._step_checks(words, state, "words"),
                                   words, state)
        return self._stepped(self._lookup(words), state)

    def _generate(self, prefix, num_words, temperature, top_k, seed):
        limit = self.limits.max_num_words
        checks = self._word_checks(prefix, "prefix") + [
            tf.debugging.assert_positive(
                temperature, message="temperature must be > 0"),
            tf.debugging.assert_positive(
                num_words, message="num_words must be >= 1"),
            self._at_most(num_words, limit, "num_words"),
            tf.debugging.assert_non_negative(
                top_k, message="top_k must be >= 0 (0: all words)"),
            self._at_most(top_k, self.vocab_size,
                          "top_k (the vocabulary size)"),
        ]
        prefix, num_words, temperature, top_k = self._gated(
            checks, prefix, num_words, temperature, top_k)
        state = self._start_state(tf.shape(prefix)[0])["state"]
        _, state = self._advance(self._lookup(prefix),
                                 tf.not_equal(prefix, ""), state)

        ids, total = decoding.sample_sequence(
            self.step_log_probs, self.next_log_probs(state), state, num_words,
            temperature, top_k, seed)
        return {"words": self._words(ids), "log_probability": total}
