"""ptb_tf.hardware: which CPU this is, from /proc/cpuinfo."""

from ptb_tf import hardware

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx fma avx2 sha_ni vaes

processor\t: 1
model name\t: not read: only the first processor counts
flags\t\t: avx512f avx512_bf16
"""

ZEN4 = ZEN3.replace("model\t\t: 1", "model\t\t: 17").replace(
    "avx2 sha_ni", "avx2 avx512f avx512_bf16 sha_ni", 1)


def write(tmp_path, text, name="cpuinfo"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_two_cpus_of_one_name_are_told_apart(tmp_path):
    zen3, zen4 = write(tmp_path, ZEN3), write(tmp_path, ZEN4, "zen4")
    assert hardware.cpu_model(zen3) == "AMD EPYC"
    assert hardware.cpu_description(zen3) == (
        "AMD EPYC (family 25 model 1; avx2)")
    assert hardware.cpu_description(zen4) == (
        "AMD EPYC (family 25 model 17; avx2 avx512f avx512_bf16)")
    assert "avx512_bf16" not in hardware.cpu_flags(zen3)


def test_bfloat16_on_a_cpu_without_it_is_said_once(tmp_path):
    zen3 = write(tmp_path, ZEN3)
    note = hardware.bfloat16_note("mixed_bfloat16", False, zen3)
    assert note.startswith("note: this CPU has no bfloat16 instructions")
    assert "--precision=float32" in note and "\n" not in note
    # Not for float32, not on a GPU, not on a CPU that has it.
    assert hardware.bfloat16_note("float32", False, zen3) == ""
    assert hardware.bfloat16_note("mixed_bfloat16", True, zen3) == ""
    zen4 = write(tmp_path, ZEN4, "zen4")
    assert hardware.bfloat16_note("mixed_bfloat16", False, zen4) == ""
    # Intel's AMX has bfloat16 matmuls too (oneDNN uses either).
    assert hardware.has_bfloat16_matmul({"avx2", "amx_bf16"})
    assert not hardware.has_bfloat16_matmul(hardware.cpu_flags(zen3))


def test_no_cpuinfo_says_nothing(tmp_path):
    missing = str(tmp_path / "missing")
    assert hardware.cpu_flags(missing) == frozenset()
    assert hardware.cpu_description(missing) == ""
    assert hardware.bfloat16_note("mixed_bfloat16", False, missing) == ""
