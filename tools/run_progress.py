r"""The progress of a long training run, from its log: a small file to commit.

    python tools/run_progress.py ~/ptb_runs/medium.log > results/medium.progress.md

A long run is trained in parts (a machine's session ends, the same command
resumes it from the latest checkpoint). Its launcher writes a header line
before each part:

    === part started 2026-12-01T10:35:02Z on HOST commit f552e7c cpu: AMD EPYC

(HOST: hostname/machine id, since 4 December also /boot-BOOT ID, which tells
apart machines that share a machine id)

and `python -m ptb_tf.train` writes the epoch lines after it. This prints a
Markdown table of the parts (when, where, which commit) and of the epochs
(learning rate, train and valid perplexity, words per second of the epoch's
last progress line, the part it finished in), so that the curve survives
even if the machine and its checkpoints do not.
"""

import re
import sys

PART = re.compile(r"^=== part started (\S+) on (\S+) commit (\S+) cpu: (.*)$")
LEARNING_RATE = re.compile(r"^Epoch: (\d+) Learning rate: ([\d.]+)")
PERPLEXITY = re.compile(r"^Epoch: (\d+) (Train|Valid) Perplexity: ([\d.]+)")
SPEED = re.compile(r"perplexity: [\d.]+ speed: (\d+) wps")
TEST = re.compile(r"^Test Perplexity: ([\d.]+)")


def parse(lines):
    """-> (parts, epochs {n: {...}}, test perplexity or None)."""
    parts, epochs, test, speed = [], {}, None, None
    for line in lines:
        line = line.rstrip("\n")
        if match := PART.match(line):
            parts.append(dict(zip(("started", "host", "commit", "cpu"),
                                  match.groups())))
            speed = None
        elif match := LEARNING_RATE.match(line):
            epochs.setdefault(int(match[1]), {})["lr"] = float(match[2])
        elif match := PERPLEXITY.match(line):
            epoch = epochs.setdefault(int(match[1]), {})
            epoch[match[2].lower()] = float(match[3])
            if match[2] == "Train":
                epoch["wps"], epoch["part"] = speed, len(parts)
        elif match := SPEED.search(line):
            speed = int(match[1])
        elif match := TEST.match(line):
            test = float(match[1])
    return parts, epochs, test


def main(path):
    with open(path, encoding="utf-8", errors="replace") as log:
        parts, epochs, test = parse(log)
    done = [n for n, epoch in sorted(epochs.items()) if "valid" in epoch]
    print(f"# Progress of {path}\n")
    print(f"Epochs finished: {len(done)}"
          + (f"; test perplexity {test}" if test is not None else "") + "\n")
    print("| part | started (UTC) | host | commit | cpu |\n|---|---|---|---|---|")
    for number, part in enumerate(parts, 1):
        print(f"| {number} | {part['started']} | {part['host']} | "
              f"{part['commit']} | {part['cpu'].strip()} |")
    print("\n| epoch | learning rate | train | valid | words/s | part |\n"
          "|---|---|---|---|---|---|")
    for number in done:
        epoch = epochs[number]
        print(f"| {number} | {epoch.get('lr', '')} | {epoch.get('train', '')} | "
              f"{epoch['valid']} | {epoch.get('wps') or ''} | "
              f"{epoch.get('part', '')} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/run_progress.py TRAINING_LOG")
    main(sys.argv[1])
