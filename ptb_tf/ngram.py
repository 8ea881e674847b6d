r"""The Kneser-Ney n-gram baseline on a corpus: `python -m ptb_tf.ngram`.

    python -m ptb_tf.ngram --data_path=simple-examples/data --order=5

Prints the valid and test perplexity over the same predictions as the
LSTM's (see ptb_tf.model.kneser_ney).
"""

import math
import sys
import time

from absl import flags

from ptb_tf import cli
from ptb_tf.corpus.splits import load_corpus
from ptb_tf.files import write_json
from ptb_tf.model.kneser_ney import KneserNey


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    cli.define_data_flags(flag_values, download=False)
    flags.DEFINE_integer("order", 5, "n of the n-gram model.",
                         flag_values=flag_values)
    flags.DEFINE_string("results_file", None, "Write the results JSON here.",
                        flag_values=flag_values)


def main(argv):
    cli.check_no_arguments(argv)
    data = cli.data_spec_from_flags(FLAGS)
    cli.check_min(FLAGS, 1, "order")
    start = time.perf_counter()
    corpus = load_corpus(data)
    model = KneserNey(corpus.train, FLAGS.order, len(corpus.vocab))
    trained = time.perf_counter()
    print(f"{FLAGS.order}-gram modified Kneser-Ney on {len(corpus.train)} "
          f"training tokens, vocabulary {len(corpus.vocab)}: trained in "
          f"{trained - start:.1f} s", flush=True)
    results = {"command": "python -m ptb_tf.ngram " + " ".join(sys.argv[1:]),
               "order": FLAGS.order,
               "discounts": {str(k): list(level.discounts)
                             for k, level in sorted(model.orders.items())}}
    for split in ("valid", "test"):
        log_probability, predictions = model.log_probability(
            getattr(corpus, split))
        perplexity = math.exp(-log_probability / predictions)
        results[f"{split}_perplexity"] = perplexity
        results[f"{split}_predictions"] = predictions
        print(f"{split.capitalize()} Perplexity: {perplexity:.3f} "
              f"({predictions} predictions)", flush=True)
    results["seconds"] = time.perf_counter() - start
    print(f"Wall time: {results['seconds']:.1f} s")
    if FLAGS.results_file:
        write_json(FLAGS.results_file, results)


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
