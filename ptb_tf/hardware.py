"""What the CPU can do, read from /proc/cpuinfo (Linux; empty elsewhere).

Machines sold under one name differ: an "AMD EPYC" VM may be a Zen 4 with
AVX-512 and bfloat16 dot products, where --precision=mixed_bfloat16 trains
~1.6x faster than float32, or a Zen 3 with AVX2 only, where bfloat16 is
emulated and slower than float32. Results files and long-run logs record
which, and a run is told when it asks for bfloat16 on a CPU without it.
"""

from typing import Dict, FrozenSet

# The instruction sets that decide which path is fastest here.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# Either gives a bfloat16 matmul in hardware (oneDNN uses them).
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def _cpuinfo(path: str = "/proc/cpuinfo") -> Dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} if unreadable)."""
    fields = {}
    try:
        with open(path, encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break  # the end of the first processor
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_flags(path: str = "/proc/cpuinfo") -> FrozenSet[str]:
    """The CPU's feature flags (empty if /proc/cpuinfo cannot be read)."""
    return frozenset(_cpuinfo(path).get("flags", "").split())


def has_bfloat16_matmul(flags) -> bool:
    """Whether a CPU with these feature flags (cpu_flags()) multiplies
    bfloat16 in hardware; elsewhere bfloat16 is emulated, slower than
    float32."""
    return bool(BFLOAT16_FLAGS & set(flags))


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The CPU's model name, e.g. "AMD EPYC" ("" if unknown)."""
    return _cpuinfo(path).get("model name", "")


def cpu_description(path: str = "/proc/cpuinfo") -> str:
    """e.g. "AMD EPYC (family 25 model 1; avx2)": the model name, and what
    tells two CPUs of one name apart; "" if /proc/cpuinfo cannot be read."""
    fields = _cpuinfo(path)
    if not fields:
        return ""
    flags = set(fields.get("flags", "").split())
    present = [flag for flag in REPORTED_FLAGS if flag in flags]
    return (f"{fields.get('model name', 'unknown CPU')} (family "
            f"{fields.get('cpu family', '?')} model {fields.get('model', '?')}"
            f"; {' '.join(present) or 'none of ' + ' '.join(REPORTED_FLAGS)})")


def bfloat16_note(precision: str, on_gpu: bool,
                  path: str = "/proc/cpuinfo") -> str:
    """One line for a run asking for bfloat16 on a CPU that has no bfloat16
    instructions (it runs, emulated, slower than float32), else ""."""
    flags = cpu_flags(path)
    if precision != "mixed_bfloat16" or on_gpu or not flags:
        return ""
    if has_bfloat16_matmul(flags):
        return ""
    return ("note: this CPU has no bfloat16 instructions (no avx512_bf16 or "
            "amx_bf16): --precision=mixed_bfloat16 is emulated here and "
            "slower than float32; --precision=float32 is the faster path")


if __name__ == "__main__":
    # tools/long_run.sh writes this into each part's header line.
    print(cpu_description() or "unknown CPU")
