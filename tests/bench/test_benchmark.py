"""The benchmark's arithmetic and its variant names (its timings are not tested)."""

import types

import pytest

from ptb_tf.bench import common, speed
from ptb_tf.config import PRESETS

# The rate functions as the benchmark's first bounds call them, before any
# test patches them.
matmul_rates_unpatched = speed.matmul_rates
softmax_pass_rates_unpatched = speed.softmax_pass_rates


def test_flops_per_word_matches_the_published_figures():
    # 3x the forward multiply-adds of two LSTM layers and the 10k softmax.
    assert speed.flops_per_word(PRESETS["small"]) == 15_840_000
    assert speed.flops_per_word(PRESETS["medium"]) == 79_560_000


@pytest.mark.parametrize("variant, parsed", [
    ("keras", ("keras", False, "float32")),
    ("unrolled+xla", ("unrolled", True, "float32")),
    ("unrolled+xla+bf16", ("unrolled", True, "mixed_bfloat16")),
    ("keras+bf16", ("keras", False, "mixed_bfloat16")),
])
def test_parse_variant(variant, parsed):
    assert common.check_variant(variant)
    assert common.parse_variant(variant) == parsed


@pytest.mark.parametrize("variant", ["cudnn", "keras+fast", "block+xla",
                                     "block+bf16"])
def test_bad_variants(variant):
    assert not common.check_variant(variant)


def test_the_default_paths_are_those_a_user_chooses_between_on_this_cpu():
    # bfloat16 first where the CPU multiplies it in hardware, never where it
    # is emulated; block (never the fastest) only when asked for.
    zen4 = common.default_variants({"avx2", "avx512f", "avx512_bf16"})
    assert zen4 == ["unrolled+bf16", "unrolled", "unrolled+xla", "keras"]
    assert common.default_variants({"amx_bf16"})[0] == "unrolled+bf16"
    assert common.default_variants({"avx2", "avx512f"}) == [
        "unrolled", "unrolled+xla", "keras"]
    assert common.default_variants(frozenset()) == [
        "unrolled", "unrolled+xla", "keras"]
    assert all(common.check_variant(variant) for variant in zen4)


def test_a_variants_flag_left_unset_takes_this_cpus_default(monkeypatch):
    from ptb_tf import hardware  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))
    assert common.variants_or_default(None) == ["unrolled", "unrolled+xla",
                                                "keras"]
    # Given, even empty, it stays as given.
    assert common.variants_or_default(["block"]) == ["block"]
    assert common.variants_or_default([]) == []


@pytest.mark.slow
def test_the_timed_functions_run_on_a_tiny_model(corpus):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tests.helpers import tiny_config  # pylint: disable=g-import-not-at-top
    config = tiny_config(corpus)
    rate = speed.train_rate(tf, corpus, config, windows=2,
                                batches_per_window=3, variant="unrolled+xla")
    assert rate["words_per_second"] > 0
    assert rate["ms_per_step"] == pytest.approx(
        1e3 * config.batch_size * config.num_steps / rate["words_per_second"])
    parts = speed.train_parts(tf, corpus, config, "unrolled", windows=2,
                              batches_per_window=2)
    assert set(parts) == {"a batch", "softmax layer", "recurrence"}
    assert all(ms > 0 for ms in parts.values())
    seconds = speed.epoch_times(corpus, config, "keras", epochs=2)
    assert len(seconds) == 2 and all(value > 0 for value in seconds)
    assert speed.checkpoint_seconds(tf, config) > 0
    assert speed.pipeline_rate(corpus, config) > 0
    # One model a distinct rnn_mode and precision: evaluation has no XLA.
    exact = speed.exact_test_rates(
        corpus, config, ["unrolled+bf16", "unrolled", "unrolled+xla"], trials=2)
    assert set(exact) == {"unrolled+bf16", "unrolled"}
    assert all(rate["median"] > 0 for rate in exact.values())
    paired = speed.paired_rounds(tf, corpus, "tiny", config, "unrolled",
                                 rounds=2, batches_per_window=2)
    assert len(paired["rounds"]) == 2
    assert paired["min"] <= paired["median"] <= paired["max"]
    served = speed.inference(tf, corpus, config, trials=3)
    assert served["step_p50_ms"] <= served["step_p99_ms"]
    assert set(speed.inference_workloads(config)) < set(served)
    for workload in speed.inference_workloads(config):
        assert served[workload]["median"] > 0
    costs = speed.side_costs(1e6, 0.5, corpus, words_per_second=100.0)
    assert costs["epoch_seconds"] == pytest.approx(len(corpus.train) / 100.0)
    assert costs["checkpoint_fraction"] == pytest.approx(
        0.5 / costs["epoch_seconds"])


def test_a_batch_and_its_parts_are_timed_in_alternating_rounds(corpus,
                                                                monkeypatch):
    # What the parts leave of a batch is only meaningful if the batch and
    # the parts met the same host: one call of each per round.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tests.helpers import tiny_config  # pylint: disable=g-import-not-at-top
    calls = []
    monkeypatch.setattr(speed, "timed",
                        lambda run: calls.append(run) or 0.01 * len(calls))
    parts = speed.train_parts(tf, corpus, tiny_config(corpus), "unrolled",
                              windows=3, batches_per_window=2)
    assert len(calls) == 9 and len(set(calls)) == 3
    assert calls[:3] == calls[3:6] == calls[6:]
    # The median of each one's rounds (the 2nd of 3: 10 ms a call of the
    # first run, then 40 and 70), per batch of the window.
    assert parts == pytest.approx({"a batch": 20.0, "softmax layer": 25.0,
                                   "recurrence": 30.0})


@pytest.mark.parametrize("durations,noisy", [
    ([1.0, 1.0, 1.0, 2.0, 1.0], True),     # rates 10, 10, 10, 5, 10
    ([1.0, 1.05, 1.0, 0.98, 1.0], False),  # within 10%
])
def test_rate_trials_reports_the_median_and_flags_a_noisy_spread(
        monkeypatch, durations, noisy):
    from ptb_tf.bench import common  # pylint: disable=import-outside-toplevel
    steps = iter([0.0] + durations)  # the untimed first call, then the trials
    clock = {"now": 0.0}

    def run():
        clock["now"] += next(steps)

    monkeypatch.setattr(common, "time", types.SimpleNamespace(
        perf_counter=lambda: clock["now"]))
    rate = common.rate_trials(run, len(durations), 10.0)
    rates = [10.0 / seconds for seconds in durations]
    assert rate["median"] == pytest.approx(sorted(rates)[2])
    assert rate["min"] == pytest.approx(min(rates))
    assert rate["max"] == pytest.approx(max(rates))
    assert rate["spread"] == pytest.approx(
        (max(rates) - min(rates)) / sorted(rates)[2])
    assert rate["noisy"] is noisy


@pytest.mark.slow
def test_matmul_rates_measure_each_shape_and_precision():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    rates = speed.matmul_rates(tf, {"tiny": (8, 16, 32)}, trials=3,
                               gflop_per_call=0.01)
    assert set(rates) == {"float32 tiny", "bfloat16 tiny"}
    plain = speed.plain_matmul_rates(tf, size=16, trials=3)
    assert set(plain) == {"float32 16^3", "bfloat16 16^3"}
    for rate in [*rates.values(), *plain.values()]:
        assert rate["trials"] == 3 and rate["min"] <= rate["median"] <= rate["max"]
        assert rate["median"] > 0


def _pass_rates(config, workload, passes_per_second, dtype_name="float32"):
    """Every log-softmax pass of a training batch of `config` at one rate."""
    return {f"{dtype_name} {key}": {"median": passes_per_second}
            for key in speed.pass_shapes(workload, speed.step_passes(config))}


def test_the_softmax_passes_are_a_read_forward_and_a_write_backward():
    config = PRESETS["small"]
    rows = config.batch_size * config.num_steps
    assert speed.step_passes(config) == {
        "log-softmax forward": (rows, 10000), "log-softmax backward": (rows, 10000)}
    assert speed.softmax_passes(config, 64, 35, training=False) == {
        "log-softmax forward": (64 * 35, 10000)}


def test_the_shape_bound_charges_each_matmul_and_pass_at_its_own_rate():
    config = PRESETS["small"]
    matmuls = speed.step_matmuls(config)
    # Three matmuls (forward and two gradients) of three parts.
    assert len(matmuls) == 9
    flops = sum(count * 2 * m * k * n for count, (m, k, n) in matmuls.values())
    words = config.batch_size * config.num_steps
    assert flops / words == pytest.approx(speed.flops_per_word(config))
    shapes = speed.bound_shapes("small", matmuls)
    rates = {f"float32 {key}": {"median": 100.0} for key in shapes}
    # Each of the two passes 1 ms.
    pass_rates = _pass_rates(config, "small", 1000.0)
    bound = speed.shape_bound("small", config, rates, pass_rates, "float32")
    assert bound["words_per_second"] == pytest.approx(
        words / (flops / 100e9 + 2e-3))
    # One slow shape (the recurrent step) lowers the bound by its share.
    for key in shapes:
        if "recurrent" in key:
            rates[f"float32 {key}"] = {"median": 10.0}
    slower = speed.shape_bound("small", config, rates, pass_rates, "float32")
    recurrent = sum(count * 2 * m * k * n for key, (count, (m, k, n))
                    in matmuls.items() if "recurrent" in key)
    assert slower["words_per_second"] == pytest.approx(
        words / ((flops - recurrent) / 100e9 + recurrent / 10e9 + 2e-3))
    # A slower pass too.
    pass_rates["float32 small log-softmax backward"] = {"median": 250.0}
    slowest = speed.shape_bound("small", config, rates, pass_rates, "float32")
    assert 1 / slowest["words_per_second"] == pytest.approx(
        1 / slower["words_per_second"] + 3e-3 / words)
    # Split for the part-by-part figures: the softmax's three matmuls and
    # two passes, and the recurrent layers' six matmuls.
    parts = speed.part_bounds_ms(slowest)
    softmax = sum(count * 2 * m * k * n for key, (count, (m, k, n))
                  in matmuls.items() if key.startswith("softmax"))
    assert parts["softmax layer"] == pytest.approx(1e3 * softmax / 100e9 + 5.0)
    assert parts["recurrence"] == pytest.approx(
        1e3 * ((flops - recurrent - softmax) / 100e9 + recurrent / 10e9))


def test_a_bfloat16_paths_passes_are_charged_in_the_faster_logits_type():
    # Its log-softmax runs on float32 logits, so a float32 pass faster than
    # the bfloat16 one (a Xeon with AMX: the bfloat16 write 3.1x slower) is
    # the one its bound charges; a float32 path never gets bfloat16's.
    config = PRESETS["small"]
    rates = {**_pass_rates(config, "small", 1000.0),
             **_pass_rates(config, "small", 250.0, "bfloat16")}
    assert speed.pass_seconds("small", speed.step_passes(config), rates,
                              "bfloat16")[0] == pytest.approx(2e-3)
    assert speed.pass_seconds("small", speed.step_passes(config), rates,
                              "float32")[0] == pytest.approx(2e-3)
    rates.update(_pass_rates(config, "small", 4000.0, "bfloat16"))
    total, parts = speed.pass_seconds("small", speed.step_passes(config),
                                      rates, "bfloat16")
    assert total == pytest.approx(0.5e-3)
    assert parts == pytest.approx({"log-softmax forward": 0.25e-3,
                                   "log-softmax backward": 0.25e-3})
    assert speed.pass_seconds("small", speed.step_passes(config), rates,
                              "float32")[0] == pytest.approx(2e-3)


def test_the_test_configs_epoch_floor_is_its_batches_passes():
    config = PRESETS["test"]
    # 4,041 tokens: (4041 // 20 - 1) // 2 = 100 batches, each two 1 ms passes.
    rates = _pass_rates(config, "test", 1000.0)
    assert speed.epoch_pass_seconds("test", 4041, config, rates,
                                    "float32") == pytest.approx(0.2)
    # A bfloat16 path's passes in the faster type, as its bound charges them.
    rates.update(_pass_rates(config, "test", 500.0, "bfloat16"))
    assert speed.epoch_pass_seconds("test", 4041, config, rates,
                                    "bfloat16") == pytest.approx(0.2)


def test_the_unrolled_lstm_bound_charges_one_recurrent_weight_gradient_a_layer():
    # recurrent._unrolled_time_loop computes the recurrent kernel's gradient
    # over all steps at once: its bound charges that shape, not T small ones.
    config = PRESETS["small"]
    looped, unrolled = (speed.step_matmuls(config, mode)
                        for mode in ("keras", "unrolled"))
    assert set(looped) - set(unrolled) == {"recurrent weight gradient"}
    assert set(unrolled) - set(looped) == {"recurrent weight gradient, all steps"}
    hidden, words = config.hidden_size, config.batch_size * config.num_steps
    assert unrolled["recurrent weight gradient, all steps"] == (
        config.num_layers, (hidden, words, 4 * hidden))

    def flops(matmuls):
        return sum(count * 2 * m * k * n for count, (m, k, n) in matmuls.values())

    assert flops(unrolled) == flops(looped)
    rates = {f"float32 {key}": {"median": 100.0}
             for mode in ("keras", "unrolled")
             for key in speed.bound_shapes("small", speed.step_matmuls(config, mode))}
    pass_rates = _pass_rates(config, "small", 1e12)  # passes taking no time
    # The per-step shape slow (as measured: a batch of 20 rows): only the
    # looped path's bound falls.
    rates["float32 small recurrent weight gradient"] = {"median": 10.0}
    assert (speed.shape_bound("small", config, rates, pass_rates, "float32",
                              "unrolled")["words_per_second"]
            == pytest.approx(100e9 * words / flops(looped)))
    assert (speed.shape_bound("small", config, rates, pass_rates, "float32",
                              "keras")["words_per_second"]
            < 0.9 * 100e9 * words / flops(looped))


def test_inference_bounds_count_the_forward_pass_of_each_workload():
    config = PRESETS["small"]
    workloads = speed.inference_workloads(config)
    matmuls, passes, words = workloads["score 64x35"]
    assert words == 64 * 35
    assert passes == {"log-softmax forward": (64 * 35, 10000)}
    flops = sum(count * 2 * m * k * n for count, (m, k, n) in matmuls.values())
    # The forward third of a training word's FLOPs, for each scored word.
    assert flops == pytest.approx(words * speed.flops_per_word(config) / 3)
    matmuls, passes, words = workloads["generate batch 1"]
    assert words == 1 and matmuls["recurrent"] == (2, (1, 200, 800))
    assert matmuls["softmax"] == (1, (1, 200, 10000))
    assert passes == {"log-softmax forward": (1, 10000)}
    workload = "small generate batch 1"
    rates = {f"float32 {workload} {part}": {"median": 2.0} for part in matmuls}
    seconds, per_part = speed.matmul_seconds(workload, matmuls, rates, "float32")
    assert seconds == pytest.approx(sum(per_part.values()))
    assert per_part["softmax"] == pytest.approx(2 * 200 * 10000 / 2e9)
    # The bound: the matmuls, then the pass (here 1 ms).
    pass_rates = {f"float32 {workload} log-softmax forward": {"median": 1000.0}}
    assert speed.inference_bound(workload, matmuls, passes, words, rates,
                                 pass_rates) == pytest.approx(1 / (seconds + 1e-3))


@pytest.mark.slow
def test_softmax_pass_rates_time_each_pass_and_type():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    shapes = {"tiny log-softmax forward": (4, 50),
              "tiny log-softmax backward": (4, 50)}
    rates = speed.softmax_pass_rates(tf, shapes, trials=3, entries_per_call=1e4)
    assert set(rates) == {f"{dtype} {key}" for dtype in ("float32", "bfloat16")
                          for key in shapes}
    for rate in rates.values():
        assert rate["trials"] == 3 and rate["min"] <= rate["median"] <= rate["max"]
        assert rate["median"] > 0


def test_a_figure_faster_than_its_bound_says_the_bound_is_too_low():
    parts = {"softmax layer": {"ms": 21.2, "bound_ms": 20.0},
             "recurrence": {"ms": 9.2, "bound_ms": 6.0}}
    assert not speed.bound_contradicted(0.79, parts)
    assert speed.bound_contradicted(1.02, parts)
    # As in a run whose rates were measured in a slow spell: the softmax
    # layer alone ran at 109% of its bound.
    parts["softmax layer"]["bound_ms"] = 23.1
    assert speed.bound_contradicted(0.79, parts)


def test_bounds_now_gives_each_paths_shape_bound(monkeypatch):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    config = PRESETS["test"]
    bounds = speed.bounds_now(
        tf, "test", config, ["unrolled", "unrolled+bf16", "keras"],
        gflop_per_call=0.001)
    assert set(bounds) == {"unrolled", "unrolled+bf16", "keras"}
    # Words/s a batch of the test config's matmuls allows: finite, positive.
    assert all(0 < bound < float("inf") for bound in bounds.values())
    # Float32 paths alone: no bfloat16 rate is measured.
    measured, matmul_rates = [], speed.matmul_rates
    monkeypatch.setattr(speed, "matmul_rates", lambda *args, **kwargs: (
        measured.append(kwargs["dtype_names"]) or matmul_rates(*args, **kwargs)))
    passes_measured, pass_rates = [], speed.softmax_pass_rates
    monkeypatch.setattr(speed, "softmax_pass_rates", lambda *args, **kwargs: (
        passes_measured.append(kwargs["dtype_names"])
        or pass_rates(*args, **kwargs)))
    speed.bounds_now(tf, "test", config, ["unrolled", "keras"],
                     gflop_per_call=0.001)
    assert measured == [["float32"]] and passes_measured == [["float32"]]
    # A bfloat16 path alone: its matmuls in bfloat16, its passes in both.
    speed.bounds_now(tf, "test", config, ["unrolled+bf16"], gflop_per_call=0.001)
    assert measured[-1] == ["bfloat16"]
    assert passes_measured[-1] == ["bfloat16", "float32"]


def test_bounds_now_times_its_rates_as_the_runs_first_bounds_are(monkeypatch):
    # Shorter or fewer calls read lower rates here (a bound 4-7% too low),
    # so a paired round's bound is measured as the whole run's is.
    import inspect  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    calls = {}

    def fake(kind, rate):
        def measure(tf, shapes, **kwargs):
            calls[kind] = kwargs
            return {f"{dtype} {name}": {"median": rate}
                    for dtype in kwargs["dtype_names"] for name in shapes}
        return measure

    monkeypatch.setattr(speed, "matmul_rates", fake("matmul", 100.0))
    monkeypatch.setattr(speed, "softmax_pass_rates", fake("passes", 1e3))
    speed.bounds_now(tf, "small", PRESETS["small"], ["unrolled+bf16"])
    for kind, function in (("matmul", matmul_rates_unpatched),
                           ("passes", softmax_pass_rates_unpatched)):
        defaults = inspect.signature(function).parameters
        for argument in set(calls[kind]) & set(defaults) - {"dtype_names"}:
            assert calls[kind][argument] == defaults[argument].default, argument
    assert calls["matmul"]["trials"] == speed.RATE_TRIALS
    assert calls["matmul"]["gflop_per_call"] == speed.GFLOP_PER_CALL
    assert calls["passes"]["entries_per_call"] == 2e8


def test_paired_rounds_set_each_window_beside_the_bound_measured_just_before(
        monkeypatch):
    # Round 2 is a slow spell: its window and its bound are both halved, so
    # its fraction is round 1's; round 3's window alone is faster.
    bounds = iter([1000.0, 500.0, 1000.0])
    seconds = iter([2.0, 4.0, 1.6])  # 1,000 words a window
    events = []
    monkeypatch.setattr(speed, "training_window", lambda *args: (
        lambda: events.append("untimed window"), 1000))
    monkeypatch.setattr(speed, "bounds_now", lambda tf, name, config, variants:
                        events.append("bound") or {variants[0]: next(bounds)})
    monkeypatch.setattr(speed, "timed", lambda run: events.append("timed window")
                        or next(seconds))
    paired = speed.paired_rounds(None, None, "medium", PRESETS["medium"],
                                 "unrolled+bf16", rounds=3,
                                 batches_per_window=20)
    assert [each["fraction_of_bound"] for each in paired["rounds"]] == \
        pytest.approx([0.5, 0.5, 0.625])
    assert [each["words_per_second"] for each in paired["rounds"]] == \
        pytest.approx([500.0, 250.0, 625.0])
    assert (paired["median"], paired["min"], paired["max"]) == \
        pytest.approx((0.5, 0.5, 0.625))
    # Each timed window follows an untimed one: the first window after the
    # bound's matmul loops ran slower.
    assert events == ["bound", "untimed window", "timed window"] * 3


def test_a_tiny_shape_is_timed_in_capped_calls():
    # 1 GFLOP a call of a [1, 1] x [1, 1] matmul would be 125 million loop
    # iterations; capped, a call is MAX_REPEAT of them (well under a second).
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    rates = speed.matmul_rates(tf, {"tiny": (1, 1, 1)}, trials=1,
                               gflop_per_call=1.0, dtype_names=["float32"])
    assert rates["float32 tiny"]["median"] > 0
