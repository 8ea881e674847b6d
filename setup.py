from setuptools import find_packages, setup

setup(
    name="ptb_tf",
    version="0.1.0",
    description="The TensorFlow PTB language-model tutorial (Zaremba et al. "
                "2014), ported to TensorFlow 2 / Keras 3.",
    packages=find_packages(include=["ptb_tf", "ptb_tf.*"]),
    python_requires=">=3.9",
    install_requires=["tensorflow>=2.16", "numpy", "absl-py"],
    # plot: the PNG map of ptb_tf.embeddings. tflite: LiteRT's interpreter
    # for TFLite exports. test: pytest, plus what the tests exercise: a PNG
    # map, the notebook run headless, TFLite exports.
    extras_require={"test": ["pytest", "matplotlib", "nbclient", "nbformat",
                             "ipykernel", "ai-edge-litert"],
                    "plot": ["matplotlib"],
                    "tflite": ["ai-edge-litert"]},
    entry_points={"console_scripts": ["ptb-train=ptb_tf.train:run"]},
)
