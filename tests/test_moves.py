"""What moved between two versions of a list: entered, left and rank changes, counted by hand."""

from __future__ import annotations

from ranking.evaluation.moves import moves


def test_entered_left_and_moved_items():
    m = moves(["a", "b", "c", "d"], ["c", "a", "e", "b"])
    assert m.entered == ("e",)
    assert m.left == ("d",)
    assert m.moved == {"c": 2, "a": -1, "b": -2}  # c: rank 3 → 1; a: 1 → 2; b: 2 → 4
    assert [m.mark(i) for i in ["c", "a", "e", "b"]] == ["↑ 2", "↓ 1", "new", "↓ 2"]
    assert m.summary() == "1 entered, 1 left, 3 moved"


def test_the_same_list_moved_nothing():
    m = moves([1, 2, 3], [1, 2, 3])
    assert m.summary() == "nothing moved"
    assert m.mark(2) == ""
