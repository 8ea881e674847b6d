r"""What the word embeddings learned: `python -m ptb_tf.embeddings`.

    python -m ptb_tf.embeddings --save_path=/tmp/ptb_small \
        --neighbours=money,stock,york --analogy=he:his::she
    python -m ptb_tf.embeddings --saved_model=saved_models/ptb_small \
        --projector_dir=/tmp/projector --plot=/tmp/words.png

Reads the input embedding [vocab, hidden] of a training run's checkpoint or
of an export, then: nearest neighbours by cosine similarity; analogies
a : b :: c : ? (the word nearest to b - a + c on unit vectors, a, b and c
left out: 3CosAdd, Mikolov et al. 2013); TensorBoard Projector files
(vectors.tsv, metadata.tsv and a projector_config.pbtxt that points at them:
`tensorboard --logdir=DIR`, or load the two TSVs at
projector.tensorflow.org); a 2-D map of the most frequent words, PCA by
default, t-SNE with --method=tsne if scikit-learn is installed, drawn as a
PNG if matplotlib is installed (`pip install -e ".[plot]"`).
"""

import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
from absl import app
from absl import flags

from ptb_tf import cli
from ptb_tf import save_dir
from ptb_tf import versions
from ptb_tf.errors import UsageError, UserError
from ptb_tf.files import atomic_write_text
from ptb_tf.vocab import EOS, UNK, Vocabulary

FLAGS = flags.FLAGS

METHODS = ("pca", "tsne")
PROJECTOR_FILES = ("vectors.tsv", "metadata.tsv", "projector_config.pbtxt")


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    cli.define_model_source_flags(flag_values)
    flags.DEFINE_string("checkpoint", "best",
                        "With --save_path: best or latest.",
                        flag_values=flag_values)
    flags.DEFINE_list("neighbours", [],
                      "Words whose nearest neighbours to print.",
                      flag_values=flag_values)
    flags.DEFINE_multi_string("analogy", [],
                              "a:b::c, solved for the word that is to c "
                              "what b is to a (repeatable).",
                              flag_values=flag_values)
    flags.DEFINE_integer("k", 8, "Words per neighbour or analogy answer.",
                         flag_values=flag_values)
    flags.DEFINE_string("projector_dir", None,
                        "Write TensorBoard Projector files into this folder.",
                        flag_values=flag_values)
    flags.DEFINE_integer("projector_words", 0,
                         "Most frequent words in the Projector files (0: all).",
                         flag_values=flag_values)
    flags.DEFINE_string("plot", None, "Draw a 2-D map into this PNG file.",
                        flag_values=flag_values)
    flags.DEFINE_integer("plot_words", 300, "Most frequent words on the map.",
                         flag_values=flag_values)
    flags.DEFINE_string("method", "pca", "2-D map: pca, or tsne (scikit-learn).",
                        flag_values=flag_values)


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


def load(saved_model: Optional[str] = None, save_path: Optional[str] = None,
         checkpoint: str = "best") -> Embeddings:
    """The input embedding of an export or of a run's checkpoint."""
    cli.check_model_source(saved_model, save_path)
    tf = cli.quiet_tensorflow()
    if saved_model:
        path = versions.resolve_saved_model(saved_model)
        matrix = tf.saved_model.load(path).embedding.numpy()
        vocab = Vocabulary.load(os.path.join(path, "assets", "vocab.txt"))
    else:
        from ptb_tf import training  # pylint: disable=g-import-not-at-top
        config, vocab_path = save_dir.load_run(save_path)
        model = training.load_model(config, save_path, checkpoint, vocab_path)
        matrix = model.embedding.embeddings.numpy()
        vocab = Vocabulary.load(vocab_path)
    return Embeddings(matrix, vocab.words)


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


def check_new(path: str) -> None:
    if os.path.exists(path):
        raise UserError(f"{path} exists; remove it or choose another path "
                        "(nothing is overwritten)")


def check_flags(flag_values: flags.FlagValues):
    """Returns the parsed analogies, or raises UsageError naming a bad flag."""
    cli.check_model_source(flag_values.saved_model, flag_values.save_path)
    if flag_values.checkpoint not in ("best", "latest"):
        raise UsageError("--checkpoint must be best or latest. Received: "
                         f"checkpoint={flag_values.checkpoint}")
    if flag_values.method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}. "
                         f"Received: method={flag_values.method}")
    for name in ("k", "plot_words"):
        if flag_values[name].value < 1:
            raise UsageError(f"--{name} must be >= 1. Received: "
                             f"{name}={flag_values[name].value}")
    if flag_values.projector_words < 0:
        raise UsageError("--projector_words must be >= 0 (0: all). Received: "
                         f"projector_words={flag_values.projector_words}")
    analogies = [parse_analogy(cli.check_utf8("analogy", text))
                 for text in flag_values.analogy]
    if not (flag_values.neighbours or analogies or flag_values.projector_dir
            or flag_values.plot):
        raise UsageError("nothing to do: pass --neighbours, --analogy, "
                         "--projector_dir or --plot")
    if flag_values.projector_dir:
        for name in PROJECTOR_FILES:
            check_new(os.path.join(flag_values.projector_dir, name))
    if flag_values.plot:
        if not flag_values.plot.endswith(".png"):
            raise UsageError(f"--plot must name a .png file. Received: "
                             f"plot={flag_values.plot}")
        check_new(flag_values.plot)
        folder = os.path.dirname(os.path.abspath(flag_values.plot))
        if not os.path.isdir(folder):
            raise UserError(f"folder of --plot not found: {folder}")
    return analogies


def _print_words(heading: str, words: List[Tuple[str, float]]) -> None:
    print(heading + "  " + "  ".join(f"{word} {score:.3f}"
                                     for word, score in words), flush=True)


def main(argv):
    cli.check_no_arguments(argv)
    analogies = check_flags(FLAGS)
    embeddings = load(FLAGS.saved_model, FLAGS.save_path, FLAGS.checkpoint)
    for word in FLAGS.neighbours:
        cli.check_utf8("neighbours", word)
        _print_words(f"{word}:", embeddings.neighbours(word, FLAGS.k))
    for a, b, c in analogies:
        _print_words(f"{a} : {b} :: {c} :", embeddings.analogy(a, b, c, FLAGS.k))
    if FLAGS.projector_dir:
        os.makedirs(FLAGS.projector_dir, exist_ok=True)
        for name, text in projector_files(embeddings,
                                          FLAGS.projector_words).items():
            atomic_write_text(os.path.join(FLAGS.projector_dir, name), text)
        print(f"Projector files in {FLAGS.projector_dir}: "
              f"{', '.join(PROJECTOR_FILES)}", flush=True)
    if FLAGS.plot:
        ids = map_words(embeddings, FLAGS.plot_words)
        points = two_d(embeddings.matrix[ids], FLAGS.method)
        draw(points, [embeddings.words[index] for index in ids], FLAGS.plot,
             f"{len(ids)} most frequent words, {FLAGS.method.upper()}")
        print(f"Map of {len(ids)} words: {FLAGS.plot}", flush=True)


def run() -> None:
    define_flags()
    app.run(cli.guarded(main))


if __name__ == "__main__":
    run()
