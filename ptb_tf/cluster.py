"""This process's place in a multi-worker cluster, read from TF_CONFIG.

TF_CONFIG (what tf.distribute.MultiWorkerMirroredStrategy reads) is JSON:

    {"cluster": {"worker": ["host1:port", "host2:port"]},
     "task": {"type": "worker", "index": 0}}

The chief is the task of type "chief", or worker 0 when the cluster has no
chief: it alone writes the run folder (checkpoints, summaries, results);
every worker reads the chief's checkpoints when it resumes, so --save_path
must name a folder every worker reaches (a shared file system).

Pure Python: a command decides what to check and write before TensorFlow
starts.
"""

import json
import os
from typing import Any, Dict


def tf_config() -> Dict[str, Any]:
    """TF_CONFIG as a dict ({} when unset or empty)."""
    text = os.environ.get("TF_CONFIG", "") or "{}"
    try:
        config = json.loads(text)
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def task() -> Dict[str, Any]:
    """This process's task: {"type": ..., "index": ...} ({} outside a cluster)."""
    found = tf_config().get("task")
    return found if isinstance(found, dict) else {}


def is_chief(strategy: str) -> bool:
    """Whether this process writes the run folder under --strategy=strategy
    (every process that is not a multi-worker one does)."""
    if strategy != "multi_worker":
        return True
    kind, index = task().get("type", "worker"), task().get("index", 0)
    has_chief = bool(tf_config().get("cluster", {}).get("chief"))
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)
