r"""Sampled against full softmax on a large vocabulary: `python -m ptb_tf.sampled_benchmark`.

    python -m ptb_tf.sampled_benchmark --results_file=results/sampled_softmax.json

Writes a synthetic corpus over a Zipf-distributed vocabulary of ~40,000 words
(PTB's 10,000 are too few for sampling to pay), then for the full and the
sampled softmax (same model, same options): steady-state training words per
second and ms per step, and the full-softmax validation and test perplexity
after training each for --epochs epochs. Prints a table and writes JSON.

The timed windows of the two alternate (full, sampled, full, ...), so that
both see the same load on a shared machine; the speedup is the median of the
pairs' ratios.

The text: each word is, with probability 1/2, the fixed successor of the
word before it (a random permutation), else a fresh Zipf(1.0) draw, so that a
model has something to learn beyond word frequencies.
"""

import dataclasses
import math
import statistics
import sys
import time

from absl import flags
import numpy as np

from ptb_tf import cli
from ptb_tf.bench.common import trainer_for
from ptb_tf.config import PRESETS
from ptb_tf.corpus.splits import Corpus
from ptb_tf.corpus.vocab import Vocabulary
from ptb_tf.files import write_json


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_integer("vocab_words", 40000,
                         "Words the synthetic text is drawn from.",
                         flag_values=flag_values)
    flags.DEFINE_integer("train_tokens", 1000000,
                         "Length of the synthetic training text.",
                         flag_values=flag_values)
    flags.DEFINE_integer("num_sampled", 1024,
                         "Candidate words per batch of the sampled softmax.",
                         flag_values=flag_values)
    flags.DEFINE_integer("epochs", 1, "Training epochs of each model.",
                         flag_values=flag_values)
    flags.DEFINE_string("rnn_mode", "unrolled", "How the LSTM runs (as train).",
                        flag_values=flag_values)
    flags.DEFINE_bool("jit_compile", True, "Compile the training loop with XLA.",
                      flag_values=flag_values)
    flags.DEFINE_integer("windows", 7, "Timed windows per softmax (median).",
                         flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "Seed of the text and the models.",
                         flag_values=flag_values)
    flags.DEFINE_string("results_file", None, "Write the results JSON here.",
                        flag_values=flag_values)
    # Train's name for its results JSON, now every command's.
    cli.define_old_name("output", "results_file", flag_values)


def zipf_text(num_tokens: int, vocab_words: int, seed: int) -> np.ndarray:
    """int64 [num_tokens] word ranks (0 the most frequent draw), as above."""
    random = np.random.RandomState(seed)
    ranks = np.arange(1, vocab_words + 1)
    probabilities = (1.0 / ranks) / np.sum(1.0 / ranks)
    fresh = random.choice(vocab_words, size=num_tokens, p=probabilities)
    follows = random.random_sample(num_tokens) < 0.5
    successor = random.permutation(vocab_words)
    text = fresh.copy()
    for index in range(1, num_tokens):
        if follows[index]:
            text[index] = successor[text[index - 1]]
    return text


def synthetic_corpus(train_tokens: int, vocab_words: int, seed: int) -> Corpus:
    """Train, valid and test (each a tenth of train) over one frequency-sorted
    vocabulary, as load_corpus builds it."""
    held_out = train_tokens // 10
    text = zipf_text(train_tokens + 2 * held_out, vocab_words, seed)
    words = [f"w{rank}" for rank in text]
    vocab = Vocabulary.build(words[:train_tokens])
    ids = vocab.encode(words)
    return Corpus(vocab, ids[:train_tokens], ids[train_tokens:-held_out],
                  ids[-held_out:])


def paired_rates(tf, corpus, configs, variant, windows, batches=20):
    """Seconds per step of each config over the same real batches, timed in
    alternating windows; returns ({name: [seconds per step, ...]}, the
    median of the per-pair ratios first / second)."""
    from ptb_tf.corpus.datasets import window_dataset  # pylint: disable=g-import-not-at-top
    runs = {}
    for name, config in configs.items():
        trainer = trainer_for(config, variant)
        inputs, targets = next(iter(window_dataset(
            corpus.train, config.batch_size, config.num_steps).batch(batches)))
        state = trainer.model.zero_state(config.batch_size)

        def run(trainer=trainer, inputs=inputs, targets=targets, state=state):
            start = time.perf_counter()
            trainer.train_steps(inputs, targets, tf.constant(batches),
                                state)[1].numpy()
            return (time.perf_counter() - start) / batches

        run()  # traces and compiles
        runs[name] = run
    times = {name: [] for name in configs}
    for _ in range(windows):
        for name, run in runs.items():
            times[name].append(run())
    first, second = (times[name] for name in configs)
    ratio = statistics.median(a / b for a, b in zip(first, second))
    return times, ratio


def main(argv):
    cli.check_no_arguments(argv)
    cli.check_min(FLAGS, 1, "vocab_words", "train_tokens", "num_sampled",
                  "epochs", "windows")
    tf = cli.quiet_tensorflow()
    import keras  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.results import machine_info  # pylint: disable=g-import-not-at-top
    from ptb_tf.training.run import train_and_evaluate  # pylint: disable=g-import-not-at-top
    corpus = synthetic_corpus(FLAGS.train_tokens, FLAGS.vocab_words, FLAGS.seed)
    base = dataclasses.replace(
        PRESETS["small"], vocab_size=len(corpus.vocab),
        max_max_epoch=FLAGS.epochs, max_epoch=FLAGS.epochs,
        num_sampled=FLAGS.num_sampled)
    variant = FLAGS.rnn_mode + ("+xla" if FLAGS.jit_compile else "")
    print(f"Synthetic Zipf text: {len(corpus.train):,} training tokens, "
          f"{len(corpus.vocab):,} words; small config, {variant}", flush=True)
    results = {"command": " ".join(["python", "-m", "ptb_tf.sampled_benchmark"]
                                   + sys.argv[1:]),
               "vocab_size": len(corpus.vocab),
               "train_tokens": int(len(corpus.train)),
               "num_sampled": FLAGS.num_sampled, "variant": variant,
               "epochs": FLAGS.epochs, "softmax": {}}
    configs = {softmax: dataclasses.replace(base, softmax=softmax).validate()
               for softmax in ("full", "sampled")}
    times, speedup = paired_rates(tf, corpus, configs, variant, FLAGS.windows)
    words_per_step = base.batch_size * base.num_steps
    for softmax, config in configs.items():
        seconds = statistics.median(times[softmax])
        keras.utils.set_random_seed(FLAGS.seed)
        start = time.perf_counter()
        run = train_and_evaluate(
            config, corpus, seed=FLAGS.seed, log=lambda line: print(
                f"  [{softmax}] {line}", flush=True),
            rnn_mode=FLAGS.rnn_mode, jit_compile=FLAGS.jit_compile)
        results["softmax"][softmax] = {
            "words_per_second": words_per_step / seconds,
            "ms_per_step": 1e3 * seconds,
            "ms_per_step_windows": [1e3 * value for value in times[softmax]],
            "valid_perplexity": run["valid_perplexity"],
            "test_perplexity": run["test_perplexity"],
            "train_seconds": time.perf_counter() - start,
        }
    results["speedup_per_step"] = speedup
    results["machine"] = machine_info()
    print(f"\n{'softmax':<8} {'words/s':>9} {'ms/step':>8} "
          f"{'valid ppl':>10} {'test ppl':>9}  (full softmax for both)")
    for name, row in results["softmax"].items():
        print(f"{name:<8} {row['words_per_second']:>9,.0f} "
              f"{row['ms_per_step']:>8.2f} {row['valid_perplexity']:>10.2f} "
              f"{row['test_perplexity']:>9.2f}")
    print(f"sampled softmax ({FLAGS.num_sampled} candidates): "
          f"{results['speedup_per_step']:.2f}x faster per step; uniform "
          f"guessing would be {len(corpus.vocab):,}, the text's unigram "
          f"perplexity ~{unigram_perplexity(corpus):,.0f}")
    results["unigram_perplexity"] = unigram_perplexity(corpus)
    if FLAGS.results_file:
        write_json(FLAGS.results_file, results)


def unigram_perplexity(corpus: Corpus) -> float:
    """Test perplexity of the training text's word frequencies (a floor to
    beat: a model that learns nothing of the successors)."""
    counts = np.bincount(corpus.train, minlength=len(corpus.vocab)) + 1.0
    log_probs = np.log(counts / counts.sum())
    return math.exp(-np.mean(log_probs[corpus.test]))


run = cli.command(define_flags, main)


if __name__ == "__main__":
    run()
