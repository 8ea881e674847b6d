#!/usr/bin/env bash
# Runs one part of a long training run from a pinned copy, logging to a file.
#
#   tools/long_run.sh PIN NAME TRAIN_FLAGS...
#
# PIN is a clone of this repository at a fixed commit with its own virtualenv
# (PIN/venv) and a non-editable install, made once with
#   git clone REPO PIN && git -C PIN checkout COMMIT
#   python3 -m venv PIN/venv && PIN/venv/bin/pip install PIN
# so that editing the work tree cannot touch a running job. The run's folder
# is ~/ptb_runs/NAME, its log ~/ptb_runs/NAME.log and its results
# ~/ptb_runs/NAME.json. Start it with nohup; after any stop, the same command
# resumes from the latest checkpoint. Each part starts with a header line
# (when, host, machine id, commit, CPU) that tools/run_progress.py reads.
set -euo pipefail
pin=$(cd "$1" && pwd); name=$2; shift 2
runs=$HOME/ptb_runs; mkdir -p "$runs"
cd "$runs"  # not the pinned source folder: python imports the installed copy
commit=$(git -C "$pin" rev-parse --short HEAD)
# The CPU with its family, model and instruction sets (ptb_tf.hardware):
# machines of one model name differ in what runs fastest on them. A pin older
# than that module gives the model name alone.
cpu=$("$pin/venv/bin/python" -m ptb_tf.hardware 2>/dev/null \
      || grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
machine=$(cut -c1-12 /etc/machine-id 2>/dev/null || echo unknown)
echo "=== part started $(date -u +%FT%TZ) on $(hostname)/$machine commit $commit cpu: $cpu" >> "$runs/$name.log"
exec "$pin/venv/bin/python" -m ptb_tf.train --save_path="$runs/$name" \
  --results_file="$runs/$name.json" --progress=lines "$@" >> "$runs/$name.log" 2>&1
