r"""Peak memory of `python -m ptb_tf.score` on one very long line.

    python tools/score_memory.py --saved_model=/tmp/ptb_small_export \
        --text=$PTB/ptb.test.txt --sizes_mb=5,50 \
        --results_file=results/score_memory.json

Builds, from a text's lines, one line of each size (its sentences joined by
a written-out " <eos> ", so that its tokens are those of the same sentences
as lines), scores it, and reports the score process's peak resident memory
and the corpus log-probability; for the largest size it also scores the
same sentences as separate lines (--compare_mb: those of another size),
whose log-probability must be the same.
Memory that does not grow with the size is what --window bounds.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from ptb_tf import hardware
from ptb_tf.files import write_json


def build(sentences, size_bytes, path, count=None):
    """Writes sentences, repeated, as one line of about size_bytes; or, with
    count, the first `count` of them as lines. Returns (bytes, count)."""
    one_line = count is None
    separator = " <eos> " if one_line else "\n"
    written = written_count = 0
    with open(path, "w", encoding="utf-8") as out:
        while (written < size_bytes) if one_line else (written_count < count):
            sentence = sentences[written_count % len(sentences)]
            if written_count:
                out.write(separator)
            out.write(sentence)
            written += len(sentence.encode("utf-8")) + len(separator)
            written_count += 1
        out.write("\n")
    return written, written_count


# The score command in a process of its own, so that its peak is its own.
_MEASURED = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[2:], "
    "check=True, stdout=open(sys.argv[1], 'w')); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def score(saved_model, path):
    """(peak RSS of the score process in MB, its corpus line, seconds)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, path + ".out", sys.executable, "-m",
         "ptb_tf.score", f"--saved_model={saved_model}", f"--input={path}"],
        capture_output=True, text=True, check=True)
    with open(path + ".out", encoding="utf-8") as output:
        corpus = output.read().strip().splitlines()[-1]
    return (int(result.stdout.strip()) / 1024, corpus,
            time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saved_model", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--sizes_mb", default="5,50")
    parser.add_argument("--compare_mb", type=float, default=None,
                        help="the size whose sentences are also scored as "
                             "lines (default: the largest)")
    # --output: the name of the first runs (results/score_memory.json).
    parser.add_argument("--results_file", "--output", dest="results_file")
    args = parser.parse_args()
    with open(args.text, encoding="utf-8") as text:
        sentences = [line.strip() for line in text if line.strip()]
    sizes = sorted(float(size) for size in args.sizes_mb.split(","))
    report = {"command": " ".join(["python", *sys.argv]),
              "machine": {"cpu": hardware.cpu_description()
                                 or platform.processor() or platform.machine(),
                          "cores": os.cpu_count()},
              "one_line": []}
    compare = args.compare_mb or sizes[-1]
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = os.path.join(folder, f"line_{size}.txt")
            written, count = build(sentences, size * 1e6, path)
            peak, corpus, seconds = score(args.saved_model, path)
            row = {"megabytes": written / 1e6, "sentences": count,
                   "peak_rss_mb": peak, "corpus": corpus, "seconds": seconds}
            report["one_line"].append(row)
            print(json.dumps(row), flush=True)
            os.remove(path)
            os.remove(path + ".out")
            if size == compare:
                compared = count
        path = os.path.join(folder, "lines.txt")
        build(sentences, 0, path, compared)  # that line's sentences as lines
        peak, corpus, seconds = score(args.saved_model, path)
        report["as_lines"] = {"sentences": compared, "peak_rss_mb": peak,
                              "corpus": corpus, "seconds": seconds}
        print(json.dumps(report["as_lines"]), flush=True)
    if args.results_file:
        write_json(args.results_file, report)


if __name__ == "__main__":
    main()
