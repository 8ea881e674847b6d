"""Text to ids, laid out as the tutorial's ptb_producer does.

    text.py      files (plain, .gz, .zip) to tokens and back
    vocab.py     Vocabulary: tokens <-> ids
    splits.py    DataSpec (where a corpus comes from), Corpus, load_corpus
    layout.py    rows, batches and chunks of a split (NumPy)
    ptb.py       PTB itself: the cache folder, download and check
    datasets.py  the tf.data pipeline (the only module here that needs TF)
"""
