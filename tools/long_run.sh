#!/usr/bin/env bash
# Runs one part of a long training run from a pinned copy, logging to a file.
#
#   tools/long_run.sh PIN NAME TRAIN_FLAGS...
#   tools/long_run.sh PIN NAME --tf1_reference TF1_REFERENCE_FLAGS...
#
# The second form runs the tutorial's own graph (tools/tf1_reference.py, from
# the pin, with tf_keras installed there once) instead of ptb_tf.train.
#
# PIN is a clone of this repository at a fixed commit with its own virtualenv
# (PIN/venv) and a non-editable install, so that editing the work tree cannot
# touch a running job. PIN may also be a commit of this repository: the copy
# is then ~/ptb_pinned/COMMIT, made here if it is missing (a new machine) by
#   git clone REPO PIN && git -C PIN checkout COMMIT
#   python3 -m venv PIN/venv && PIN/venv/bin/pip install PIN
# The run's folder is ~/ptb_runs/NAME, its log ~/ptb_runs/NAME.log and its
# results ~/ptb_runs/NAME.json. Start it with nohup; after any stop, the same command
# resumes from the latest checkpoint. Each part starts with a header line
# (when, host, machine id, boot id, commit, CPU) that tools/run_progress.py
# reads.
set -euo pipefail
pin=$1; name=$2; shift 2
tf1=false
if [ "${1:-}" = --tf1_reference ]; then tf1=true; shift; fi
if [ ! -d "$pin" ]; then
  repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
  commit=$(git -C "$repo" rev-parse --verify --quiet "$pin^{commit}") \
    || { echo "long_run.sh: $pin is neither a folder nor a commit of $repo" >&2; exit 2; }
  pin=$HOME/ptb_pinned/$(git -C "$repo" rev-parse --short "$commit")
  if [ ! -x "$pin/venv/bin/python" ]; then
    # A half-made copy (a stop while installing) is made again from nothing.
    rm -rf "$pin"
    git clone --quiet "$repo" "$pin"
    git -C "$pin" checkout --quiet "$commit"
    python3 -m venv "$pin/venv"
    "$pin/venv/bin/pip" install --quiet "$pin"
  fi
fi
pin=$(cd "$pin" && pwd)
if $tf1 && ! "$pin/venv/bin/python" -c "import tf_keras" >/dev/null 2>&1; then
  # tf_keras of the pin's TensorFlow release, for the tutorial's BasicLSTMCell.
  tf_version=$("$pin/venv/bin/python" -c \
    "import importlib.metadata as m; print(m.version('tensorflow'))")
  "$pin/venv/bin/pip" install --quiet "tf_keras~=${tf_version%.*}.0"
fi
runs=$HOME/ptb_runs; mkdir -p "$runs"
cd "$runs"  # not the pinned source folder: python imports the installed copy
commit=$(git -C "$pin" rev-parse --short HEAD)
# The CPU with its family, model and instruction sets (ptb_tf.hardware):
# machines of one model name differ in what runs fastest on them. A pin older
# than that module gives the model name alone.
cpu=$("$pin/venv/bin/python" -m ptb_tf.hardware 2>/dev/null \
      || grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
machine=$(cut -c1-12 /etc/machine-id 2>/dev/null || echo unknown)
# The machine id names an image, not a machine: the machines that replaced
# one another between sessions (an empty home each time) all had the same.
# The boot id changes with each machine (and each reboot).
boot=$(cut -c1-8 /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
echo "=== part started $(date -u +%FT%TZ) on $(hostname)/$machine/boot-$boot commit $commit cpu: $cpu" >> "$runs/$name.log"
if $tf1; then
  TF_USE_LEGACY_KERAS=1 exec "$pin/venv/bin/python" "$pin/tools/tf1_reference.py" \
    --save_path="$runs/$name" --results_file="$runs/$name.json" "$@" \
    >> "$runs/$name.log" 2>&1
fi
exec "$pin/venv/bin/python" -m ptb_tf.train --save_path="$runs/$name" \
  --results_file="$runs/$name.json" --progress=lines "$@" >> "$runs/$name.log" 2>&1
