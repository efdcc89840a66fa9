"""The model's batching: texts of like length go through it together, and a text's vector is
the same whatever else is in its batch."""

from __future__ import annotations

import numpy as np

from fte.embeddings import Embedder, length_groups

ONE_LINERS = ["Reset my password", "Where is my invoice?", "Files not syncing"]
PARAGRAPHS = [
    "Hi team, since yesterday my files are not syncing on my Windows laptop. I restarted the "
    "app twice and signed out and back in, but the icon stays on Connecting. We have a client "
    "deadline on Friday, so could you tell me what else I can try? Thanks, Dana",
    "Good morning. Our accounting team needs last month's invoice for the Business plan, with "
    "our VAT number on it. Where can I download it, and can I change the billing address?",
]


def test_a_text_has_the_same_vector_in_any_batch(embedder: Embedder) -> None:
    mixed = [ONE_LINERS[0], PARAGRAPHS[0], ONE_LINERS[1], PARAGRAPHS[1], ONE_LINERS[2]]
    alone = np.vstack([embedder.embed([text]) for text in mixed])
    np.testing.assert_allclose(embedder.embed(mixed), alone, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_short_and_long_texts_go_through_apart() -> None:
    lengths = [12, 60, 13, 61, 12, 59, 14, 60] * 2
    groups = length_groups(lengths)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    assert [sorted(lengths[i] for i in group) for group in groups] == [
        [12, 12, 12, 12, 13, 13, 14, 14],
        [59, 59, 60, 60, 60, 60, 61, 61],
    ]


def test_like_lengths_share_a_pass_up_to_the_most() -> None:
    assert length_groups([15, 16, 14, 15]) == [[2, 0, 3, 1]]
    # A pass costs something of its own: a few tokens more do not earn one.
    assert len(length_groups([15] * 15 + [18])) == 1
    groups = length_groups([20] * 150, most=64)
    assert [len(group) for group in groups] == [22, 64, 64]
    assert length_groups([]) == []
