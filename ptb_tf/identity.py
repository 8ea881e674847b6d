"""What makes two training runs the same run: config, vocabulary and data.

No TensorFlow import: the train CLI checks a --save_path before it starts.
A run's identity is recorded in save_path/identity.json and in every
checkpoint, so resuming or exporting with another config, vocabulary or
data is refused with a message that says which differs.
"""

import hashlib
from typing import Any, Dict, List

import numpy as np

SPLITS = ("train", "valid", "test")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vocab_hash(vocab) -> str:
    return _sha256("\n".join(vocab.words).encode("utf-8"))


def identity_of(config, vocab, corpus=None) -> Dict[str, Any]:
    """{"config": {...}, "vocab_sha256": ..., "data_sha256": {split: ...}}.

    With a corpus, also its level ("word" or "char") and the hashes of the
    token ids of each split; an export knows no data and leaves them out.
    """
    identity = {"config": config.to_dict(), "vocab_sha256": vocab_hash(vocab)}
    if corpus is not None:
        identity["level"] = corpus.level
        identity["data_sha256"] = {
            split: _sha256(np.asarray(getattr(corpus, split), np.int32).tobytes())
            for split in SPLITS}
    return identity


def differences(saved: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """What differs, e.g. ["config (max_max_epoch 2 -> 3)", "vocabulary"]."""
    found = []
    changes = [f"{name} {value} -> {current['config'].get(name)}"
               for name, value in saved["config"].items()
               if current["config"].get(name) != value]
    if changes:
        found.append(f"config ({', '.join(changes)})")
    if saved["vocab_sha256"] != current["vocab_sha256"]:
        found.append("vocabulary")
    if "level" in current and saved.get("level", "word") != current["level"]:
        found.append(f"level ({saved.get('level', 'word')} -> "
                     f"{current['level']})")
    if "data_sha256" in saved and "data_sha256" in current:
        changed = [split for split in SPLITS
                   if saved["data_sha256"].get(split)
                   != current["data_sha256"].get(split)]
        if changed:
            found.append(f"data ({', '.join(changed)} split"
                         f"{'s' if len(changed) > 1 else ''})")
    return found
