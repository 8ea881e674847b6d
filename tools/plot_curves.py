r"""Validation perplexity per epoch of several runs, as one PNG.

    python tools/plot_curves.py --output=results/valid_curves.png \
        small=results/small.json medium=results/medium.json large=results/large.json

Each argument is LABEL=FILE: a results file of `python -m ptb_tf.train
--results_file` (its "epochs" list), or a training log (for a run still
going: its "Epoch: N Valid Perplexity" lines). Needs matplotlib.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_progress  # pylint: disable=wrong-import-position


def valid_curve(path):
    """[(epoch, valid perplexity)] of a results file or a training log."""
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as results:
            return [(row["epoch"], row["valid_perplexity"])
                    for row in json.load(results)["epochs"]]
    with open(path, encoding="utf-8", errors="replace") as log:
        _, epochs, _ = run_progress.parse(log)
    return [(n, epoch["valid"]) for n, epoch in sorted(epochs.items())
            if "valid" in epoch]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=FILE")
    parser.add_argument("--output", required=True, help="PNG file to write")
    args = parser.parse_args()
    import matplotlib  # pylint: disable=import-outside-toplevel
    import matplotlib.ticker  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    for run in args.runs:
        label, _, path = run.partition("=")
        if not path:
            parser.error(f"{run}: write LABEL=FILE")
        curve = valid_curve(path)
        axes.plot([e for e, _ in curve], [p for _, p in curve], marker=".",
                  label=f"{label} (last {curve[-1][1]:.2f})")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation perplexity")
    axes.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.set_title("PTB word-level LSTM, ptb_tf")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
