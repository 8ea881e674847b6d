"""What the benchmarks share: training variants, timing, memory."""

import resource
import statistics
import time
from typing import List, Optional

from ptb_tf import hardware


def parse_variant(variant: str):
    """"unrolled+xla+bf16" -> ("unrolled", jit_compile=True, "mixed_bfloat16")."""
    rnn_mode, *options = variant.split("+")
    precision = "mixed_bfloat16" if "bf16" in options else "float32"
    return rnn_mode, "xla" in options, precision


def default_variants(cpu_flags) -> List[str]:
    """The training paths a user chooses between on a CPU with these feature
    flags (hardware.cpu_flags()): unrolled+bf16 where the CPU multiplies
    bfloat16 in hardware (elsewhere it is emulated, slower than float32),
    unrolled, unrolled+xla (small's fastest float32 path) and keras (the GPU
    path). block, never the fastest here, is timed only when asked for."""
    bfloat16 = (["unrolled+bf16"] if hardware.has_bfloat16_matmul(cpu_flags)
                else [])
    return bfloat16 + ["unrolled", "unrolled+xla", "keras"]


DEFAULT_VARIANTS_HELP = ("default: unrolled+bf16 where the CPU has bfloat16 "
                         "instructions, then unrolled, unrolled+xla, keras")


def variants_or_default(variants: Optional[List[str]]) -> List[str]:
    """A --variants flag's value, or default_variants on this machine's CPU
    where the flag was not given (None)."""
    return (default_variants(hardware.cpu_flags()) if variants is None
            else variants)


def matmul_dtype(variant: str) -> str:
    """The type a variant's matmuls run in, and so the rates its bound and
    ceiling are measured at: "bfloat16" for +bf16, else "float32"."""
    return ("bfloat16" if parse_variant(variant)[2] == "mixed_bfloat16"
            else "float32")


def check_variant(variant: str) -> bool:
    """Whether a variant names known options that go together."""
    from ptb_tf.options import run_options_problem  # pylint: disable=g-import-not-at-top
    options = variant.split("+")[1:]
    return (set(options) <= {"xla", "bf16"}
            and run_options_problem(*parse_variant(variant)) is None)


def check_configs_and_variants(configs, variants) -> None:
    """UsageError unless every name of `configs` is a preset and every one of
    `variants` a training path check_variant accepts."""
    from ptb_tf.config import PRESETS  # pylint: disable=g-import-not-at-top
    from ptb_tf.errors import UsageError  # pylint: disable=g-import-not-at-top
    bad = [variant for variant in variants if not check_variant(variant)]
    if bad:
        raise UsageError("--variants must be keras, unrolled or block, the "
                         "first two optionally with +xla and/or +bf16. "
                         f"Received: {','.join(bad)}")
    unknown = [name for name in configs if name not in PRESETS]
    if unknown:
        raise UsageError(f"--configs must name configs of {', '.join(PRESETS)}. "
                         f"Received: {','.join(unknown)}")


def trainer_for(config, variant: str):
    """A Trainer on a fresh model for a variant such as "unrolled+xla"."""
    from ptb_tf.training.models import build_model  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.trainer import Trainer  # pylint: disable=g-import-not-at-top
    rnn_mode, xla, precision = parse_variant(variant)
    return Trainer(build_model(config, rnn_mode, precision),
                            config, jit_compile=xla)


# A rate whose trials spread more than this (max - min, over the median)
# was measured on a machine too busy to trust it.
NOISY_SPREAD = 0.10


def rate_trials(run, trials, work):
    """work / seconds of `trials` calls of run() (after one untimed call):
    the median, min, max and spread ((max - min) / median), and whether the
    spread says the machine was too noisy (NOISY_SPREAD)."""
    run()
    rates = []
    for _ in range(trials):
        start = time.perf_counter()
        run()
        rates.append(work / (time.perf_counter() - start))
    median = statistics.median(rates)
    spread = (max(rates) - min(rates)) / median
    return {"median": median, "min": min(rates), "max": max(rates),
            "spread": spread, "trials": trials,
            "noisy": spread > NOISY_SPREAD}


def median_rate(run, repeats, work):
    """Median of work / seconds over `repeats` calls of run() (after one)."""
    return rate_trials(run, repeats, work)["median"]


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
