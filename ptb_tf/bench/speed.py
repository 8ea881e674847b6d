"""The measurements of `python -m ptb_tf.benchmark`: matmul rates, training
speed per path, the exact test, serving latency and the side costs."""

import os
import statistics
import tempfile
import time

from ptb_tf.bench.common import (matmul_dtype, median_rate, parse_variant,
                                rate_trials, timed, trainer_for)


def flops_per_word(config) -> float:
    """Training FLOPs per word: 3x the forward multiply-adds (forward, and the
    two backward matmuls) of the LSTM layers and the softmax, 2 FLOPs each."""
    hidden = config.hidden_size
    lstm = config.num_layers * (hidden + hidden) * 4 * hidden
    return 3 * 2 * (lstm + hidden * config.vocab_size)


def forward_matmuls(config, batch, length):
    """The forward matmuls of `batch` sequences of `length` words through
    config's model and its softmax, as {part: (count, (m, k, n))}.

    input: each layer's input projection over the whole window [B*T, H] x
    [H, 4H]; recurrent: each layer's step [B, H] x [H, 4H], T times;
    softmax: [B*T, H] x [H, V]. A generated word is length 1.
    """
    words, hidden = batch * length, config.hidden_size
    layers, gates = config.num_layers, 4 * hidden
    return {"input": (layers, (words, hidden, gates)),
            "recurrent": (layers * length, (batch, hidden, gates)),
            "softmax": (1, (words, hidden, config.vocab_size))}


def step_matmuls(config, rnn_mode="keras"):
    """The matmuls of one training batch in rnn_mode, as {part: (count,
    (m, k, n))}: each forward matmul (forward_matmuls) and the two of its
    backward pass (the gradients of its input and of its weight), the shapes
    they run at.

    Autodiff of a loop over time computes the recurrent kernel's gradient as
    T matmuls [H, B] x [B, 4H], summed. An LSTM in rnn_mode "unrolled" has
    its own backward pass (recurrent._unrolled_time_loop), which computes it
    as one matmul over all T steps, [H, B * T] x [B * T, 4H]: the same FLOPs
    at the far higher rate of that shape, which its bound must charge.
    """
    matmuls = {}
    for part, (count, (m, k, n)) in forward_matmuls(
            config, config.batch_size, config.num_steps).items():
        matmuls[f"{part} forward"] = (count, (m, k, n))
        matmuls[f"{part} input gradient"] = (count, (m, n, k))
        matmuls[f"{part} weight gradient"] = (count, (k, m, n))
    if rnn_mode == "unrolled" and config.cell == "lstm":
        _, (hidden, batch, gates) = matmuls.pop("recurrent weight gradient")
        matmuls["recurrent weight gradient, all steps"] = (
            config.num_layers, (hidden, batch * config.num_steps, gates))
    return matmuls


def matmul_seconds(workload, matmuls, rates, dtype_name):
    """Seconds if each of `matmuls` ({part: (count, (m, k, n))}) ran at the
    rate measured for its own shape (rates: matmul_rates' dict of
    bound_shapes(workload, matmuls), keyed "DTYPE WORKLOAD PART") and nothing
    else took time: the least time these shapes allow. Also per part."""
    seconds = {}
    for part, (count, (m, k, n)) in matmuls.items():
        rate = rates[f"{dtype_name} {workload} {part}"]["median"]
        seconds[part] = count * 2 * m * k * n / (rate * 1e9)
    return sum(seconds.values()), seconds


def softmax_passes(config, batch, length, training=True):
    """The log-softmax's passes over the [batch * length, vocab] logits of
    `batch` sequences of `length` words, as {part: (rows, vocab)}: those no
    implementation can skip. forward: one read of the logits (every exp and
    each row's sum); in training also backward: one write of the logits'
    gradient, the operand of the softmax's two gradient matmuls."""
    passes = {"log-softmax forward": (batch * length, config.vocab_size)}
    if training:
        passes["log-softmax backward"] = (batch * length, config.vocab_size)
    return passes


def step_passes(config):
    """The log-softmax passes of one training batch (softmax_passes), beside
    step_matmuls' matmuls."""
    return softmax_passes(config, config.batch_size, config.num_steps)


# The logits' types a path's passes may be charged in. A bfloat16 path's
# log-softmax reads and writes float32 logits (recurrent.matmul's products
# come back float32), casting the gradient for its matmuls, a cast a matmul
# can fold into its load: its passes are charged in the faster of the two
# types. Measured in bfloat16 alone, they read too slow on both CPUs timed:
# the bfloat16 write took 1.5-1.8x the float32 one on a Zen 4 and 3.1x on
# a Xeon with AMX, and medium's softmax layer ran faster than its bound on
# both.
PASS_TYPES = {"float32": ("float32",), "bfloat16": ("float32", "bfloat16")}


def pass_seconds(workload, passes, rates, dtype_name):
    """Seconds of `passes` (softmax_passes' dict) at the rates measured for
    their own shapes (rates: softmax_pass_rates' dict of pass_shapes(
    workload, passes), in passes/s, keyed "DTYPE WORKLOAD PART"), each in
    the fastest of the logits' types PASS_TYPES allows a dtype_name path,
    and per part."""
    seconds = {part: min(1 / rates[f"{pass_type} {workload} {part}"]["median"]
                         for pass_type in PASS_TYPES[dtype_name])
               for part in passes}
    return sum(seconds.values()), seconds


def shape_bound(name, config, rates, pass_rates, dtype_name, rnn_mode="keras"):
    """Training words/s of config `name` in rnn_mode at its shapes' bound: each
    matmul of a batch (step_matmuls) at the rate measured for its own shape
    (rates: matmul_rates'), and the log-softmax's two passes (softmax_passes)
    at theirs (pass_rates: softmax_pass_rates'), nothing else taking time: an
    upper bound these shapes can reach. Also the seconds per batch of each
    part."""
    matmuls, seconds = matmul_seconds(name, step_matmuls(config, rnn_mode),
                                      rates, dtype_name)
    passes, pass_parts = pass_seconds(
        name, step_passes(config), pass_rates, dtype_name)
    return {"words_per_second": (config.batch_size * config.num_steps
                                 / (matmuls + passes)),
            "seconds_per_batch": {**seconds, **pass_parts}}


def bound_shapes(workload, matmuls):
    """matmul_rates' shapes for matmul_seconds: {"WORKLOAD PART": (m, k, n)}."""
    return {f"{workload} {part}": shape
            for part, (_, shape) in matmuls.items()}


def pass_shapes(workload, passes):
    """softmax_pass_rates' shapes for pass_seconds: {"WORKLOAD PART": (rows,
    vocab)}."""
    return {f"{workload} {part}": shape for part, shape in passes.items()}


# Distinct operand pairs a timed call cycles through: a matmul never sees
# the operands of the one before it.
OPERAND_POOL = 4
# A rate's timed calls and the work of each, the same for every bound: with
# shorter calls (~5 GFLOP, as the paired rounds first took) small's bound
# read 7% lower and medium's 4% lower with 3 calls instead of 7, measured
# alternately in one process, so each fraction of those bounds read high.
RATE_TRIALS = 7
GFLOP_PER_CALL = 20.0
# A log-softmax pass's call covers this many logits per GFLOP of a matmul
# call (2e8 for 20 GFLOP): calls of about the same length.
ENTRIES_PER_GFLOP = 1e7
# Loop iterations a timed call runs at most: the models' smallest shape
# (generate at batch 1) needs ~16,000 for 20 GFLOP; the test config's
# would need millions (~20 us each), hours for one rate.
MAX_REPEAT = 20_000


def matmul_rates(tf, shapes, trials=RATE_TRIALS,
                 gflop_per_call=GFLOP_PER_CALL,
                 dtype_names=("float32", "bfloat16")):
    """GFLOP/s of [m, k] x [k, n] matmuls in each of dtype_names, each the
    rate_trials dict (median, min, max, spread, noisy) of `trials` calls.

    A call runs ~gflop_per_call GFLOP in a tf.while_loop whose body
    multiplies OPERAND_POOL independent operand pairs and sums every product
    entry, so that no product can be skipped, merged with another or cut to
    the entry read (as Grappler may do to chained matmuls of the same
    operands). The pairs are separate tensors, not slices of one: a slice
    would be copied before each matmul (a 2048^3 call's operands: 32 MB).
    """
    results = {}
    for dtype in map(tf.as_dtype, dtype_names):
        for name, (m, k, n) in shapes.items():
            pairs = [(tf.cast(tf.random.normal([m, k]), dtype),
                      tf.cast(tf.random.normal([k, n]), dtype))
                     for _ in range(OPERAND_POOL)]
            flop = 2 * m * k * n * OPERAND_POOL
            repeat = min(MAX_REPEAT, max(1, round(gflop_per_call * 1e9 / flop)))

            @tf.function
            def chain(pairs=pairs, repeat=repeat):
                # The operands ride along as loop variables: a loop-invariant
                # matmul could be hoisted out of the loop and run once.
                def body(index, total, pairs):
                    for a, b in pairs:
                        # Summed in the product's own type: a cast to
                        # float32 first, a pass over the product, took 8%
                        # of a bfloat16 2048^3 call on a Xeon with AMX
                        # (994 GFLOP/s against 1,089 summed in bfloat16 and
                        # 1,134 for a plain call, measured side by side).
                        total += tf.cast(tf.reduce_sum(tf.matmul(a, b)),
                                         tf.float32)
                    return index + 1, total, pairs
                return tf.while_loop(lambda index, *_: index < repeat, body,
                                     (tf.constant(0), tf.constant(0.0),
                                      pairs))[1]

            results[f"{dtype.name} {name}"] = rate_trials(
                lambda: chain().numpy(), trials, flop * repeat / 1e9)
    return results


def plain_matmul_rates(tf, size=2048, trials=15):
    """GFLOP/s of one eager [size]^3 tf.matmul at a time, float32 and
    bfloat16 (rate_trials dicts): the check that the looped ceiling above
    measures what a plain matmul reaches.

    A trial is one matmul (40-90 ms here), so more trials than the looped
    rates take. It reads one entry of the product: copying all of it to
    NumPy (8-16 MB) took 1-2% of a trial, which the looped ceiling never
    pays.
    """
    results = {}
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.cast(tf.random.normal([size, size]), dtype)
        b = tf.cast(tf.random.normal([size, size]), dtype)
        results[f"{dtype.name} {size}^3"] = rate_trials(
            lambda a=a, b=b: tf.matmul(a, b)[0, 0].numpy(), trials,
            2 * size ** 3 / 1e9)
    return results


def softmax_pass_rates(tf, shapes, trials=RATE_TRIALS,
                       entries_per_call=GFLOP_PER_CALL * ENTRIES_PER_GFLOP,
                       dtype_names=("float32", "bfloat16")):
    """Passes/s of the log-softmax's passes over [rows, vocab] logits
    (shapes: {"... log-softmax forward" or "... backward": (rows, vocab)}),
    logits in each of dtype_names, each the rate_trials dict of `trials`
    calls.

    Each pass at its fastest here: one loop compiled by XLA, which fuses the
    exp with the row sums (forward: a read of the logits, their row sums'
    logs out) or with the cast to the logits' type (backward: exp(logits -
    logsumexp) written as a new tensor of their shape and type). A call runs
    ~entries_per_call logits in a tf.while_loop over OPERAND_POOL
    independent tensors, shifted by the loop index so that nothing can be
    hoisted out of the loop; the backward's outputs are loop variables, so
    that each one is written.
    """
    results = {}
    for dtype in map(tf.as_dtype, dtype_names):
        for name, (rows, vocab) in shapes.items():
            pool = [tf.cast(tf.random.normal([rows, vocab]), dtype)
                    for _ in range(OPERAND_POOL)]
            repeat = max(1, round(entries_per_call / (rows * vocab
                                                      * OPERAND_POOL)))
            backward = name.endswith("backward")

            @tf.function(jit_compile=True)
            def loop(pool=pool, repeat=repeat, backward=backward):
                def body(index, total, outputs):
                    shift = 0.01 * tf.cast(index % 3, tf.float32)
                    written = []
                    for logits in pool:
                        logits = tf.cast(logits, tf.float32) + shift
                        if backward:
                            # A fixed stand-in for each row's logsumexp.
                            written.append(tf.cast(
                                tf.exp(logits - logits[:, :1]), dtype))
                        else:
                            total += tf.reduce_sum(tf.math.log(
                                tf.reduce_sum(tf.exp(logits), -1)))
                    return index + 1, total, written if backward else outputs
                outputs = [tf.zeros_like(logits) for logits in pool]
                _, total, outputs = tf.while_loop(
                    lambda index, *_: index < repeat, body,
                    (tf.constant(0), tf.constant(0.0), outputs))
                return total + tf.add_n([tf.cast(output[0, 0], tf.float32)
                                         for output in outputs])

            results[f"{dtype.name} {name}"] = rate_trials(
                lambda loop=loop: loop().numpy(), trials,
                OPERAND_POOL * repeat)
    return results


def training_window(tf, corpus, config, batches_per_window, variant):
    """A function that trains `variant` on batches_per_window real PTB
    batches (traced, on a fresh model, before it returns), and the words
    each call trains on."""
    from ptb_tf.corpus.datasets import window_dataset  # pylint: disable=g-import-not-at-top
    trainer = trainer_for(config, variant)
    inputs, targets = next(iter(window_dataset(
        corpus.train, config.batch_size, config.num_steps).batch(
            batches_per_window)))
    count = tf.constant(batches_per_window)
    state = trainer.model.zero_state(config.batch_size)

    def run():
        nonlocal state
        _, cost, state, _, _ = trainer.train_steps(inputs, targets, count,
                                                   state)
        cost.numpy()

    run()  # tracing
    return run, batches_per_window * config.batch_size * config.num_steps


def train_rate(tf, corpus, config, windows, batches_per_window, variant):
    """Steady-state training speed of `config` on real PTB batches."""
    run, words = training_window(tf, corpus, config, batches_per_window,
                                 variant)
    words_per_second = median_rate(run, windows, words)
    return {"words_per_second": words_per_second,
            "ms_per_step": 1e3 * config.batch_size * config.num_steps
                           / words_per_second,
            "gflops": words_per_second * flops_per_word(config) / 1e9}


def bounds_now(tf, name, config, variants, gflop_per_call=GFLOP_PER_CALL,
               trials=RATE_TRIALS):
    """{variant: words/s at its shape bound} for config `name`, from the
    rates of its own matmul and log-softmax pass shapes measured now, in the
    types the variants run (each timed matmul call ~gflop_per_call GFLOP):
    a bound to set beside a training figure timed at the same moment,
    measured as the run's first bounds are."""
    shapes = {}
    for variant in variants:
        shapes.update(bound_shapes(
            name, step_matmuls(config, parse_variant(variant)[0])))
    dtype_names = sorted({matmul_dtype(variant) for variant in variants})
    rates = matmul_rates(tf, shapes, trials=trials,
                         gflop_per_call=gflop_per_call,
                         dtype_names=dtype_names)
    pass_rates = softmax_pass_rates(
        tf, pass_shapes(name, step_passes(config)), trials=trials,
        entries_per_call=gflop_per_call * ENTRIES_PER_GFLOP,
        dtype_names=sorted({pass_type for dtype_name in dtype_names
                            for pass_type in PASS_TYPES[dtype_name]}))
    return {variant: shape_bound(name, config, rates, pass_rates,
                                 matmul_dtype(variant),
                                 parse_variant(variant)[0])["words_per_second"]
            for variant in variants}


def timed_after_one(run) -> float:
    """Seconds of a call of run() made right after an untimed one.

    For a window timed after other work (a bound's matmul loops, another
    part): the first window after a bound's measurement ran 4% slower than
    the next (small unrolled+bf16, median of 5 rounds, every round slower).
    """
    run()
    return timed(run)


def paired_rounds(tf, corpus, name, config, variant, rounds,
                  batches_per_window):
    """The fraction of its shape bound `variant` trains at, from `rounds`
    rounds that each measure the bound (bounds_now) and then time one
    training window: a fraction whose two terms share the host's state.

    A slow spell of the host (minutes long here) slows the matmuls a bound
    is measured from and a training window alike. Timed minutes apart, as
    the benchmark's ceilings and training figures are, a spell lands on one
    of them only: medium unrolled+bf16 read 78-87% of its bound over four
    runs of the same step. Returns each round's words/s, bound and
    fraction, and the fractions' median, min and max.
    """
    run, words = training_window(tf, corpus, config, batches_per_window,
                                 variant)
    measured = []
    for _ in range(rounds):
        bound = bounds_now(tf, name, config, [variant])[variant]
        words_per_second = words / timed_after_one(run)
        measured.append({"words_per_second": words_per_second,
                         "bound_words_per_second": bound,
                         "fraction_of_bound": words_per_second / bound})
    fractions = [each["fraction_of_bound"] for each in measured]
    return {"rounds": measured, "median": statistics.median(fractions),
            "min": min(fractions), "max": max(fractions)}


# The bound's parts that belong to the softmax layer; the others are the
# recurrent layers' (their input projections and recurrent steps).
SOFTMAX_PARTS = ("softmax forward", "softmax input gradient",
                 "softmax weight gradient", "log-softmax forward",
                 "log-softmax backward")


def train_parts(tf, corpus, config, variant, windows, batches_per_window):
    """Where a training batch's time goes: ms a batch of the whole training
    step and of its two parts, the softmax layer and the recurrent stack,
    each forward and backward, timed in alternating rounds.

    "a batch": training on real PTB batches, as train_rate times it;
    "softmax layer": the logits of [batch, num_steps, hidden] outputs, the
    loss and its gradients to the outputs and the softmax weights, as
    training computes them; "recurrence": the embedding, dropout and the
    recurrent layers of `model.features` and their gradients, from a fixed
    upstream gradient. Each part runs batches_per_window times in one call
    (a loop in a tf.function, compiled by XLA if the variant is), on random
    ids and outputs. A round times one call of each of the three, each
    after an untimed one; each figure is the median of `windows` rounds.
    What the parts leave of a whole batch (the update, the clipping, the
    steps between them) is read from figures timed side by side: timed
    minutes apart, a slow spell that met only one of them made it negative
    (-9.4 ms for medium keras).
    """
    batch, _ = training_window(tf, corpus, config, batches_per_window,
                               variant)
    trainer = trainer_for(config, variant)
    model, jit = trainer.model, trainer.jit_compile
    shape = [config.batch_size, config.num_steps]
    ids = tf.random.uniform(shape, 0, config.vocab_size, tf.int32)
    outputs = tf.random.normal(shape + [config.hidden_size])
    state = model.zero_state(config.batch_size)

    def softmax_layer(index):
        features = outputs + tf.cast(index, tf.float32)  # new operands each batch
        with tf.GradientTape() as tape:
            tape.watch(features)
            cost = trainer.softmax_cost(features, ids)
        return cost, tape.gradient(cost, [features, *model.trainable_variables])

    def recurrence(index):
        with tf.GradientTape() as tape:
            features, _ = model.features((ids + index) % config.vocab_size,
                                         state, training=True)
            cost = tf.reduce_sum(tf.cast(features, tf.float32) * outputs)
        return cost, tape.gradient(cost, model.trainable_variables)

    def part_loop(part):
        @tf.function(jit_compile=jit)
        def loop():
            total = tf.constant(0.0)
            for index in tf.range(batches_per_window):
                cost, gradients = part(index)
                # Every gradient is read, so that none can be pruned.
                total += cost + tf.add_n([tf.reduce_sum(tf.cast(
                    gradient.values if isinstance(gradient, tf.IndexedSlices)
                    else gradient, tf.float32))
                    for gradient in gradients if gradient is not None])
            return total

        loop()  # tracing
        return lambda: loop().numpy()

    runs = {"a batch": batch, "softmax layer": part_loop(softmax_layer),
            "recurrence": part_loop(recurrence)}
    seconds = {name: [] for name in runs}
    for _ in range(windows):
        for name, run in runs.items():
            seconds[name].append(timed_after_one(run))
    return {name: 1e3 * statistics.median(values) / batches_per_window
            for name, values in seconds.items()}


def part_bounds_ms(bound):
    """shape_bound's seconds_per_batch as ms a batch of the two parts
    train_parts times besides the whole batch: {"softmax layer": ...,
    "recurrence": ...}."""
    seconds = bound["seconds_per_batch"]
    softmax = sum(seconds[part] for part in SOFTMAX_PARTS)
    return {"softmax layer": 1e3 * softmax,
            "recurrence": 1e3 * (sum(seconds.values()) - softmax)}


def bound_contradicted(fraction_of_bound, parts_ms) -> bool:
    """Whether a training figure (its fraction of the shape bound) or one of
    its parts (train_parts' ms beside part_bounds_ms', as the benchmark
    records them: {part: {"ms", "bound_ms", ...}}) ran faster than its bound.
    A bound cannot be beaten: its rates were measured in a slow spell of the
    machine (one that every trial of a rate shared, so that their spread did
    not show it), and the fractions read too high."""
    return fraction_of_bound > 1 or any(
        part["ms"] < part["bound_ms"] for part in parts_ms.values())


def epoch_times(corpus, config, variant, epochs=3):
    """Seconds of each of `epochs` full training epochs after a first one,
    which traces and compiles (the per-step overhead test). More than one:
    the XLA path's epoch moved by 20% between epochs of one process (6.5-8.1
    s) with the host's load."""
    trainer = trainer_for(config, variant)

    def epoch():
        return trainer.run_epoch(corpus.train, config.batch_size,
                                 config.num_steps, train=True)["seconds"]

    epoch()
    return [epoch() for _ in range(epochs)]


def epoch_pass_seconds(workload, num_tokens, config, pass_rates, dtype_name):
    """Seconds of the log-softmax passes of one training epoch of config over
    num_tokens: each batch's step_passes at the rates measured for them
    (pass_rates: softmax_pass_rates' dict of pass_shapes(workload, ...)), as
    pass_seconds charges them. The floor under the test config's epoch,
    whose 2-unit step is little else."""
    from ptb_tf.corpus.layout import num_batches  # pylint: disable=g-import-not-at-top
    steps = num_batches(num_tokens, config.batch_size, config.num_steps)
    return steps * pass_seconds(workload, step_passes(config), pass_rates,
                                dtype_name)[0]


def exact_test_seconds(corpus, config, window=500):
    from ptb_tf.training.models import build_model  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.trainer import Trainer  # pylint: disable=g-import-not-at-top
    trainer = Trainer(build_model(config), config)
    trainer.evaluate_exact(corpus.test[:window * 2 + 7], window)  # tracing
    start = time.perf_counter()
    trainer.evaluate_exact(corpus.test, window)
    return time.perf_counter() - start


# The exact test's rate per path is timed over this many predictions (small's
# whole test takes ~10 s; medium's and large's would take minutes).
EXACT_TEST_PREDICTIONS = 10_000


def exact_test_rates(corpus, config, variants, trials=3):
    """Words/s of the exact batch-1 evaluation (the test's first
    EXACT_TEST_PREDICTIONS predictions, windows of 500) for each distinct
    model of `variants`: {variant: rate_trials figures}. XLA is left out
    (evaluation never compiles with it), so "unrolled+xla" is "unrolled".
    A step reads the recurrent kernels for one word: far below the matmul
    rate, and anything redone at every step shows (a kernel's cast did)."""
    ids = corpus.test[:EXACT_TEST_PREDICTIONS + 1]
    rates = {}
    for variant in variants:
        rnn_mode, _, precision = parse_variant(variant)
        model = f"{rnn_mode}+bf16" if precision != "float32" else rnn_mode
        if model in rates:
            continue
        trainer = trainer_for(config, model)
        # rate_trials' first, untimed call traces both window lengths.
        rates[model] = rate_trials(
            lambda: trainer.evaluate_exact(ids, 500), trials, len(ids) - 1)
    return rates


# The inference workloads timed, and whose matmul bounds are printed.
SCORE_BATCH, SCORE_LENGTH = 64, 35
GENERATE_BATCHES = (1, 64)
GENERATED_WORDS = 200


def inference_workloads(config):
    """{workload: (forward matmuls, log-softmax passes, words per call)} of
    the inference timed by `inference`: score of 64 x 35 words, and one
    generated word per row at each of GENERATE_BATCHES (per word: the
    stack's step and the softmax). Each reads its log-softmax once (score's
    log-probabilities, generate's sampling weights)."""
    workloads = {f"score {SCORE_BATCH}x{SCORE_LENGTH}": (
        forward_matmuls(config, SCORE_BATCH, SCORE_LENGTH),
        softmax_passes(config, SCORE_BATCH, SCORE_LENGTH, training=False),
        SCORE_BATCH * SCORE_LENGTH)}
    for batch in GENERATE_BATCHES:
        workloads[f"generate batch {batch}"] = (
            forward_matmuls(config, batch, 1),
            softmax_passes(config, batch, 1, training=False), batch)
    return workloads


def inference_bound(workload, matmuls, passes, words, rates, pass_rates):
    """Words/s of an inference workload (inference_workloads') at its shapes'
    bound: its float32 forward matmuls and log-softmax pass at their own
    rates."""
    seconds = (matmul_seconds(workload, matmuls, rates, "float32")[0]
               + pass_seconds(workload, passes, pass_rates, "float32")[0])
    return words / seconds


def inference(tf, corpus, config, trials=15):
    """The SavedModel's signatures of a `config` model, timed: `step` at
    batch 1 (p50, p99 ms), `score` of 64 x 35 test words (words/s, the
    rate_trials dict) and `generate` of GENERATED_WORDS words at each of
    GENERATE_BATCHES (words/s)."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    from ptb_tf.serving.module import ServingModule  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.models import build_model  # pylint: disable=g-import-not-at-top
    from ptb_tf.serving import export_layout  # pylint: disable=g-import-not-at-top
    model = build_model(config)
    with tempfile.TemporaryDirectory() as folder:
        vocab_path = os.path.join(folder, "vocab.txt")
        corpus.vocab.save(vocab_path)
        module = ServingModule(model, vocab_path)
        path = export_layout.write_version(
            os.path.join(folder, "export"),
            lambda out: tf.saved_model.save(module, out,
                                            signatures=module.signatures()))
        signatures = tf.saved_model.load(path).signatures
        step = signatures["step"]
        state = signatures["start_state"](batch_size=tf.constant(1))["state"]
        word = tf.constant(["the"])
        for _ in range(20):
            state = step(words=word, state=state)["state"]
        latencies = []
        for _ in range(500):
            start = time.perf_counter()
            result = step(words=word, state=state)
            result["state"].numpy()
            latencies.append(1e3 * (time.perf_counter() - start))
            state = result["state"]
        # The test set's first words (repeated, if it has fewer).
        words = corpus.vocab.decode(corpus.test[:SCORE_BATCH * SCORE_LENGTH])
        batch = tf.constant(np.resize(np.array(words),
                                      [SCORE_BATCH, SCORE_LENGTH]))
        score = signatures["score"]
        report = {
            "step_p50_ms": float(np.percentile(latencies, 50)),
            "step_p99_ms": float(np.percentile(latencies, 99)),
            f"score {SCORE_BATCH}x{SCORE_LENGTH}": rate_trials(
                lambda: score(words=batch)["log_probability"].numpy(), trials,
                SCORE_BATCH * SCORE_LENGTH)}
        generate = signatures["generate"]
        for rows in GENERATE_BATCHES:
            prefix = tf.fill([rows, 1], "the")

            def run(prefix=prefix):
                generate(prefix=prefix, num_words=tf.constant(GENERATED_WORDS),
                         temperature=tf.constant(1.0), top_k=tf.constant(0),
                         seed=tf.constant(1, tf.int64))["words"].numpy()

            report[f"generate batch {rows}"] = rate_trials(
                run, max(3, trials // 3), rows * GENERATED_WORDS)
    return report


def pipeline_rate(corpus, config):
    """Words per second of the tf.data pipeline alone (the training chunks)."""
    from ptb_tf.corpus.datasets import chunk_dataset  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.trainer import chunk_size  # pylint: disable=g-import-not-at-top
    size = chunk_size(corpus.train, config.batch_size, config.num_steps)

    def run():
        for _ in chunk_dataset(corpus.train, config.batch_size,
                               config.num_steps, size):
            pass

    return median_rate(run, 3, len(corpus.train))


def checkpoint_seconds(tf, config):
    """Seconds to write one checkpoint of `config` (model and optimizer)."""
    from ptb_tf.training.models import build_model  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.trainer import Trainer  # pylint: disable=g-import-not-at-top
    trainer = Trainer(build_model(config), config)
    checkpoint = tf.train.Checkpoint(model=trainer.model,
                                     optimizer=trainer.optimizer)
    with tempfile.TemporaryDirectory() as folder:
        manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
        return statistics.median(
            timed(manager.save) for _ in range(5))


def side_costs(pipeline_words_per_second, save_seconds, corpus,
               words_per_second):
    """What the pipeline, checkpointing and logging add to one training epoch.

    As fractions of the epoch's compute time at `words_per_second`: the whole
    epoch's data through tf.data, timed alone (prefetching overlaps it with
    training, so this is an upper bound) and one checkpoint (written once an
    epoch). The ten progress lines read a loss each chunk's call has already
    returned, and print: nothing to time.
    """
    epoch_seconds = len(corpus.train) / words_per_second
    return {"epoch_seconds": epoch_seconds,
            "pipeline_fraction": (len(corpus.train) / pipeline_words_per_second
                                  / epoch_seconds),
            "checkpoint_fraction": save_seconds / epoch_seconds}
