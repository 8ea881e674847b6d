"""What a model's input embedding holds: neighbours, analogies, maps.

NumPy (matplotlib for a map, scikit-learn for t-SNE), no TensorFlow.
"""

import os
from typing import List, Sequence, Tuple

import numpy as np

from ptb_tf.corpus.vocab import EOS, UNK
from ptb_tf.errors import UsageError, UserError


PROJECTOR_FILES = ("vectors.tsv", "metadata.tsv", "projector_config.pbtxt")


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """float [V, H] -> each row divided by its length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class Embeddings:
    """A vocabulary's vectors: float32 [V, H], row i for words[i]."""

    def __init__(self, matrix: np.ndarray, words: Sequence[str]):
        if len(matrix) != len(words):
            raise ValueError(f"{len(matrix)} vectors for {len(words)} words")
        self.matrix = np.asarray(matrix, np.float32)
        self.words = list(words)
        self.ids = {word: index for index, word in enumerate(self.words)}
        self.unit = unit_rows(self.matrix)

    def id_of(self, word: str) -> int:
        if word not in self.ids:
            raise UserError(f"{word!r} is not in the vocabulary "
                            f"({len(self.words)} words); pick a word of the "
                            "training text")
        return self.ids[word]

    def nearest(self, vector: np.ndarray, k: int,
                exclude: Sequence[int] = ()) -> List[Tuple[str, float]]:
        """The k words with the highest cosine similarity to vector [H]."""
        similarity = self.unit @ (vector / max(np.linalg.norm(vector), 1e-12))
        similarity[list(exclude)] = -np.inf
        order = np.argsort(-similarity, kind="stable")[:k]
        return [(self.words[index], float(similarity[index]))
                for index in order]

    def neighbours(self, word: str, k: int) -> List[Tuple[str, float]]:
        """The k nearest other words by cosine similarity."""
        index = self.id_of(word)
        return self.nearest(self.unit[index], k, exclude=[index])

    def analogy(self, a: str, b: str, c: str,
                k: int) -> List[Tuple[str, float]]:
        """a : b :: c : ? -> the k words nearest to b - a + c (unit vectors),
        a, b and c excluded."""
        ids = [self.id_of(word) for word in (a, b, c)]
        target = self.unit[ids[1]] - self.unit[ids[0]] + self.unit[ids[2]]
        return self.nearest(target, k, exclude=ids)


def parse_analogy(text: str) -> Tuple[str, str, str]:
    """"a:b::c" -> (a, b, c)."""
    left, separator, c = text.partition("::")
    a, colon, b = left.partition(":")
    if not (separator and colon and a and b and c) or ":" in b + c:
        raise UsageError(f"--analogy must look like a:b::c (man:king::woman). "
                         f"Received: analogy={text}")
    return a, b, c


def projector_files(embeddings: Embeddings, limit: int = 0):
    """The Projector's files as {name: text}: vectors.tsv (one row of
    tab-separated floats per word), metadata.tsv (one word per line, same
    order; a single column has no header) and projector_config.pbtxt."""
    count = limit or len(embeddings.words)
    vectors = "".join("\t".join(f"{value:.6g}" for value in row) + "\n"
                      for row in embeddings.matrix[:count])
    metadata = "".join(word + "\n" for word in embeddings.words[:count])
    config = ('embeddings {\n  tensor_name: "embedding"\n'
              '  tensor_path: "vectors.tsv"\n'
              '  metadata_path: "metadata.tsv"\n}\n')
    return dict(zip(PROJECTOR_FILES, (vectors, metadata, config)))


def map_words(embeddings: Embeddings, count: int) -> List[int]:
    """Ids of the `count` most frequent words (the vocabulary is sorted by
    frequency), <unk> and <eos> left out."""
    skip = {UNK, EOS}
    return [index for index, word in enumerate(embeddings.words)
            if word not in skip][:count]


def two_d(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """float [N, H] -> [N, 2]: the first two principal components, or t-SNE."""
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
        except ImportError:
            raise UserError("--method=tsne needs scikit-learn: pip install "
                            "scikit-learn, or use --method=pca") from None
        perplexity = min(30.0, (len(vectors) - 1) / 3)
        return TSNE(2, perplexity=perplexity, random_state=seed,
                    init="pca").fit_transform(unit_rows(vectors))
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def draw(points: np.ndarray, labels: Sequence[str], path: str,
         title: str) -> None:
    """Writes a PNG with each label at its point."""
    try:
        import matplotlib  # pylint: disable=g-import-not-at-top
    except ImportError:
        raise UserError('--plot needs matplotlib: pip install -e ".[plot]" '
                        "(or pip install matplotlib)") from None
    matplotlib.use("Agg")  # no display needed
    from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
    figure, axes = pyplot.subplots(figsize=(14, 14))
    axes.scatter(points[:, 0], points[:, 1], s=4, alpha=0.3)
    for (x, y), label in zip(points, labels):
        axes.annotate(label, (x, y), fontsize=8, alpha=0.8)
    axes.set_title(title)
    temporary = path + ".partial.png"
    figure.savefig(temporary, dpi=100, bbox_inches="tight")
    pyplot.close(figure)
    os.replace(temporary, path)
