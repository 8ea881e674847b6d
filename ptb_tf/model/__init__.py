"""The language models.

    ptb_model.py   PTBModel: the tutorial's LSTM language model (Keras, with
                   explicit state; keras, unrolled and block modes)
    recurrent.py   LSTM/GRU/RNN maths in plain TF ops (the unrolled and block
                   modes, and serving)
    kneser_ney.py  the n-gram baseline (NumPy)
"""
