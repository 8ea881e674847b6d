"""`ptb_tf.embeddings`: neighbours, analogies, Projector files, the 2-D map."""

import os
import sys

import numpy as np
import pytest
from tests.helpers import assert_last_line_error, output_lines, run_module

from ptb_tf.errors import UsageError, UserError
from ptb_tf.serving import word_vectors


# Made so that the answers are known: king - man + woman = queen exactly, and
# "cat" points almost where "dog" does.
WORDS = ["the", "king", "queen", "man", "woman", "cat", "dog", "<unk>"]
MATRIX = np.array([
    [0.0, 0.0, 0.0, 1.0],   # the
    [1.0, 1.0, 0.0, 0.0],   # king: royal + male
    [1.0, 0.0, 1.0, 0.0],   # queen: royal + female
    [0.0, 1.0, 0.0, 0.1],   # man
    [0.0, 0.0, 1.0, 0.1],   # woman
    [0.2, 0.2, 0.2, -1.0],  # cat
    [0.25, 0.2, 0.2, -1.0],  # dog
    [0.1, -0.3, 0.1, 0.0],  # <unk>
])


@pytest.fixture
def toy():
    return word_vectors.Embeddings(MATRIX, WORDS)


def test_neighbours_are_ranked_by_cosine_similarity(toy):
    found = toy.neighbours("cat", 3)
    assert found[0][0] == "dog" and found[0][1] > 0.99
    assert "cat" not in [word for word, _ in toy.neighbours("cat", 7)]
    # Cosine, not dot product: scaling a vector changes nothing.
    scaled = word_vectors.Embeddings(MATRIX * np.arange(1, 9)[:, None], WORDS)
    got, want = scaled.neighbours("king", 7), toy.neighbours("king", 7)
    assert [word for word, _ in got] == [word for word, _ in want]
    assert [score for _, score in got] == pytest.approx(
        [score for _, score in want])
    scores = [score for _, score in toy.neighbours("king", 7)]
    assert scores == sorted(scores, reverse=True)
    unit = MATRIX / np.linalg.norm(MATRIX, axis=1, keepdims=True)
    assert dict(toy.neighbours("king", 7))["queen"] == pytest.approx(
        unit[1] @ unit[2])


def test_analogy_arithmetic(toy):
    answer = toy.analogy("man", "king", "woman", 3)
    assert answer[0][0] == "queen"
    # The question's own words are never answers.
    assert not {"man", "king", "woman"} & {word for word, _ in
                                           toy.analogy("man", "king", "woman", 5)}
    with pytest.raises(UserError, match="'prince' is not in the vocabulary"):
        toy.analogy("man", "prince", "woman", 3)


def test_parse_analogy():
    assert word_vectors.parse_analogy("man:king::woman") == ("man", "king", "woman")
    for bad in ("man:king:woman", "man::woman", ":king::woman", "a:b::c:d"):
        with pytest.raises(UsageError, match="must look like a:b::c"):
            word_vectors.parse_analogy(bad)


def test_projector_files_format(toy):
    files = word_vectors.projector_files(toy)
    rows = files["vectors.tsv"].splitlines()
    assert len(rows) == len(WORDS)
    np.testing.assert_allclose(
        np.array([[float(value) for value in row.split("\t")] for row in rows]),
        MATRIX, atol=1e-6)
    # One column of metadata: no header line, one word per vector row.
    assert files["metadata.tsv"].splitlines() == WORDS
    assert 'tensor_path: "vectors.tsv"' in files["projector_config.pbtxt"]
    assert 'metadata_path: "metadata.tsv"' in files["projector_config.pbtxt"]
    limited = word_vectors.projector_files(toy, limit=3)
    assert len(limited["vectors.tsv"].splitlines()) == 3
    assert limited["metadata.tsv"].splitlines() == WORDS[:3]


def test_pca_map_keeps_the_largest_spread(toy):
    points = word_vectors.two_d(MATRIX, "pca")
    assert points.shape == (len(WORDS), 2)
    centred = MATRIX - MATRIX.mean(axis=0)
    # The first component carries the most variance a direction can.
    assert np.var(points[:, 0]) == pytest.approx(
        np.linalg.svd(centred, compute_uv=False)[0] ** 2 / len(WORDS))
    assert np.var(points[:, 0]) >= np.var(points[:, 1])
    assert word_vectors.map_words(toy, 100) == [0, 1, 2, 3, 4, 5, 6]  # no <unk>


def test_missing_optional_packages_say_what_to_install(toy, tmp_path,
                                                       monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError, match="--plot needs matplotlib"):
        word_vectors.draw(np.zeros([2, 2]), ["a", "b"], str(tmp_path / "x.png"),
                        "t")
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(UserError, match="--method=tsne needs scikit-learn"):
        word_vectors.two_d(MATRIX, "tsne")


@pytest.mark.slow
def test_command_line_on_a_run_and_its_export(trained, tmp_path):
    """A tiny trained model: both sources give the same answers; the files
    and the picture are written, and never over a user's file."""
    outputs = []
    for source in (f"--save_path={trained['save_path']}",
                   f"--saved_model={trained['path']}"):
        outputs.append(output_lines(run_module(
            "embeddings", source, "--neighbours=cat,mat", "--k=3",
            "--analogy=cat:dog::mat")))
    assert outputs[0] == outputs[1]
    cat, mat, analogy = outputs[0]
    assert cat.startswith("cat:") and len(cat.split()) == 1 + 2 * 3
    assert analogy.startswith("cat : dog :: mat :")
    matrix = trained["model"].embedding.embeddings.numpy()
    expected = word_vectors.Embeddings(matrix, trained["vocab"].words)
    assert cat.split()[1] == expected.neighbours("cat", 1)[0][0]

    projector, picture = tmp_path / "projector", tmp_path / "words.png"
    lines = output_lines(run_module(
        "embeddings", f"--saved_model={trained['path']}",
        f"--projector_dir={projector}", f"--plot={picture}", "--plot_words=8"))
    assert "Projector files" in lines[0] and "Map of 8 words" in lines[1]
    vectors = (projector / "vectors.tsv").read_text().splitlines()
    assert len(vectors) == len(trained["vocab"]) == len(
        (projector / "metadata.tsv").read_text().splitlines())
    assert len(vectors[0].split("\t")) == trained["config"].hidden_size
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [name for name in os.listdir(tmp_path) if "partial" in name]
    before = picture.read_bytes()
    assert_last_line_error(run_module("embeddings", f"--saved_model={trained['path']}",
                                 f"--plot={picture}"), "exists; remove it")
    assert picture.read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("args, fragment", [
    ([], "nothing to do"),
    (["--neighbours=zebra2"], "'zebra2' is not in the vocabulary"),
    (["--analogy=a:b"], "--analogy must look like a:b::c"),
    (["--method=umap", "--plot=x.png"], "--method must be one of pca, tsne"),
    (["--plot=words.jpg"], "--plot must name a .png file"),
    (["--k=0", "--neighbours=cat"], "--k must be >= 1"),
])
def test_bad_inputs(trained, args, fragment):
    assert_last_line_error(run_module("embeddings", f"--saved_model={trained['path']}",
                                 *args), fragment)
