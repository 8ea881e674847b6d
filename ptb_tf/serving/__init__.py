"""A trained model served: signatures, exports and the tools' model source.

    module.py         ServingModule: the SavedModel's nine signatures
    decoding.py       sampling and beam search over a step function
    limits.py         the largest request an export answers
    export_layout.py  TensorFlow Serving's NAME/VERSION folders, metadata
    saved_model.py    export(): a run's checkpoint as a new version
    tflite_export.py  the step signatures as a TFLite model
    tflite_model.py   a TFLite export run in LiteRT (no TensorFlow)
    c_api_loader.py   a SavedModel run through TensorFlow's C API (no Python TF)
    source.py         ModelSource: an export, a TFLite export or a run folder
    scoring.py        text read in bounded pieces and scored, state carried
    word_vectors.py   neighbours, analogies and maps of the input embedding

No TensorFlow at import here (limits, export_layout, tflite_model, source,
scoring and word_vectors are read before it starts).
"""
