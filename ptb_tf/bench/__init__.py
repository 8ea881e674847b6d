"""The library of the benchmark commands (benchmark, sampled_benchmark, soak,
serving_benchmark).

    common.py  training variants ("unrolled+xla+bf16"), timing, memory
    speed.py   the measurements of python -m ptb_tf.benchmark
"""
