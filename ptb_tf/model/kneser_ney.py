r"""The count-based baseline: an interpolated modified Kneser-Ney n-gram model.

`python -m ptb_tf.ngram` trains it on a training text and prints the valid and test perplexity over the
same predictions as the LSTM's: the corpus read as one stream with `<eos>`
for every line break, every token after the first predicted from the ones
before it (so sentence starts are predicted too, from the `<eos>` before
them). Plain Python and NumPy.

The model (Chen & Goodman 1998, "modified" Kneser-Ney): for a context h of
k - 1 words and the context h' without its first word,

    P_k(w | h) = max(c(h w) - D(c(h w)), 0) / c(h .)  +  gamma(h) P_{k-1}(w | h')
    gamma(h)   = (D1 N1(h .) + D2 N2(h .) + D3 N3+(h .)) / c(h .)

with three discounts per order, D(1) = D1, D(2) = D2, D(3 or more) = D3,
estimated from that order's counts of counts; c is the raw count at the
highest order and the continuation count N1+(. h w) (how many distinct words
precede h w) below it; the order-1 model interpolates with the uniform
distribution over the vocabulary. An unseen context backs off entirely to
the next order. Every P_k(. | h) sums to one over the vocabulary (tested).
"""

import collections
import math
from typing import Dict, List, Sequence, Tuple


Context = Tuple[int, ...]


class _Order:
    """The counts of one order k: c(h w) and, per context h, its totals."""

    def __init__(self, counts: Dict[Tuple[int, ...], int]):
        self.counts = counts
        # h -> [c(h .), N1(h .), N2(h .), N3+(h .)]
        self.contexts: Dict[Context, List[int]] = collections.defaultdict(
            lambda: [0, 0, 0, 0])
        for gram, count in counts.items():
            totals = self.contexts[gram[:-1]]
            totals[0] += count
            totals[min(count, 3)] += 1
        self.contexts = dict(self.contexts)
        self.discounts = _discounts(counts.values())


def _discounts(counts) -> Tuple[float, float, float]:
    """D1, D2, D3+ from the counts of counts n1..n4 (Chen & Goodman)."""
    n = collections.Counter(count for count in counts if count <= 4)
    n1, n2, n3, n4 = (n[index] for index in (1, 2, 3, 4))
    if not (n1 and n2 and n3 and n4):
        # Too little data for the estimate (tiny corpora): middling values.
        return 0.5, 1.0, 1.5
    y = n1 / (n1 + 2 * n2)
    estimates = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    # Kept in [0, k] so that no discounted count goes below zero.
    return tuple(min(max(value, 0.0), float(limit))
                 for value, limit in zip(estimates, (1, 2, 3)))


class KneserNey:
    """An interpolated modified Kneser-Ney model of `order` over ids 0..V-1."""

    def __init__(self, ids: Sequence[int], order: int, vocab_size: int):
        if order < 1:
            raise ValueError(f"order must be >= 1. Received: order={order}")
        self.order = order
        self.vocab_size = vocab_size
        ids = list(map(int, ids))
        highest = collections.Counter(
            tuple(ids[start:start + order])
            for start in range(len(ids) - order + 1))
        orders = {order: highest}
        # Below the highest order, a k-gram counts the distinct words seen
        # before it: the (k + 1)-gram types that end with it.
        for k in range(order - 1, 0, -1):
            continuation = collections.Counter(gram[1:] for gram in orders[k + 1])
            orders[k] = continuation
        self.orders = {k: _Order(counts) for k, counts in orders.items()}

    def probability(self, context: Sequence[int], word: int) -> float:
        """P(word | the last order - 1 ids of context)."""
        context = tuple(context[len(context) - self.order + 1:]
                        if self.order > 1 else ())
        return self._probability(context, word)

    def _probability(self, context: Context, word: int) -> float:
        if len(context) >= self.order:
            context = context[len(context) - self.order + 1:]
        k = len(context) + 1
        if k == 0:
            return 1.0 / self.vocab_size
        lower = (self._probability(context[1:], word) if k > 1
                 else 1.0 / self.vocab_size)
        level = self.orders[k]
        totals = level.contexts.get(context)
        if totals is None:
            return lower
        total, n1, n2, n3 = totals
        d1, d2, d3 = level.discounts
        count = level.counts.get(context + (word,), 0)
        discount = (0.0, d1, d2, d3)[min(count, 3)]
        gamma = (d1 * n1 + d2 * n2 + d3 * n3) / total
        return max(count - discount, 0.0) / total + gamma * lower

    def log_probability(self, ids: Sequence[int]) -> Tuple[float, int]:
        """Natural-log probability of ids[1:] given what precedes each, and
        the number of predictions (len(ids) - 1)."""
        ids = list(map(int, ids))
        total = 0.0
        for index in range(1, len(ids)):
            start = max(0, index - self.order + 1)
            total += math.log(self._probability(tuple(ids[start:index]),
                                                ids[index]))
        return total, len(ids) - 1
