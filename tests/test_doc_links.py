"""Every link a reader can follow inside the repository leads somewhere: the
README's, the docs' and the results' relative links name files that exist,
and their #anchors name headings of the file they point into (the anchors
GitHub makes from headings). Links out of the repository are not followed
(no internet here); a link to a folder needs the folder."""

import os
import re

from tests.helpers import REPO_ROOT

# [text](target) outside code spans; images too. A target ends at a space
# (a title) or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def markdown_files():
    """README.md, docs/*.md and results/*.md, relative to the repository."""
    paths = ["README.md"]
    for folder in ("docs", "results"):
        paths += sorted(os.path.join(folder, name)
                        for name in os.listdir(os.path.join(REPO_ROOT, folder))
                        if name.endswith(".md"))
    return paths


def prose(text):
    """The text without fenced code blocks and inline code spans, where a
    bracket followed by a parenthesis is code, not a link."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchor(heading):
    """GitHub's anchor for a heading: lower case, markup and punctuation
    other than hyphens and underscores dropped, each space a hyphen."""
    heading = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(path):
    """The anchors of a markdown file's headings (a repeated heading's
    second anchor gets "-1", as on GitHub)."""
    with open(path, encoding="utf-8") as text:
        lines = re.sub(r"^```.*?^```", "", text.read(), flags=re.S | re.M)
    found, seen = set(), {}
    for line in lines.splitlines():
        match = HEADING.match(line)
        if match:
            name = anchor(match.group(1))
            count = seen.get(name, 0)
            found.add(name if count == 0 else f"{name}-{count}")
            seen[name] = count + 1
    return found


def test_the_anchor_of_a_heading_is_githubs():
    assert anchor("Medium, tied embeddings and variational dropout") == (
        "medium-tied-embeddings-and-variational-dropout")
    assert anchor("The `score` signature (v2)") == "the-score-signature-v2"
    assert anchor("ptb_tf's **exact** test") == "ptb_tfs-exact-test"


def test_every_link_inside_the_repository_leads_somewhere():
    broken = []
    for source in markdown_files():
        with open(os.path.join(REPO_ROOT, source), encoding="utf-8") as text:
            targets = LINK.findall(prose(text.read()))
        for target in targets:
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            resolved = (os.path.normpath(os.path.join(
                REPO_ROOT, os.path.dirname(source), path)) if path
                        else os.path.join(REPO_ROOT, source))
            if not os.path.exists(resolved):
                broken.append(f"{source}: {target} (no such file)")
            elif fragment and resolved.endswith(".md") and (
                    fragment not in anchors(resolved)):
                broken.append(f"{source}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
