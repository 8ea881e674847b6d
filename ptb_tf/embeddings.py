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
from typing import List, Tuple

from absl import flags

from ptb_tf import cli
from ptb_tf.errors import UsageError, UserError
from ptb_tf.files import atomic_write_text
from ptb_tf.serving.word_vectors import PROJECTOR_FILES, Embeddings, draw, map_words, parse_analogy, projector_files, two_d


FLAGS = flags.FLAGS


METHODS = ("pca", "tsne")


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    cli.define_model_source_flags(flag_values)
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


def check_new(path: str) -> None:
    if os.path.exists(path):
        raise UserError(f"{path} exists; remove it or choose another path "
                        "(nothing is overwritten)")


def check_flags(flag_values: flags.FlagValues):
    """Returns the model's ModelSource and the parsed analogies, or raises
    UsageError naming a bad flag."""
    source = cli.model_source(flag_values)
    if flag_values.method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}. "
                         f"Received: method={flag_values.method}")
    cli.check_min(flag_values, 1, "k", "plot_words")
    cli.check_min(flag_values, 0, "projector_words", note=" (0: all)")
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
    return source, analogies


def _print_words(heading: str, words: List[Tuple[str, float]]) -> None:
    print(heading + "  " + "  ".join(f"{word} {score:.3f}"
                                     for word, score in words), flush=True)


def main(argv):
    cli.check_no_arguments(argv)
    source, analogies = check_flags(FLAGS)
    cli.quiet_tensorflow()
    matrix, vocab = source.embedding()
    embeddings = Embeddings(matrix, vocab.words)
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


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
