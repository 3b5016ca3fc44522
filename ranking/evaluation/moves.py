"""What moved between two versions of one list (a feed before and after a setting change).

Where it sits: beside ``ranking.evaluation.explain``; pages keep the list they last showed and ask this
module what changed, so a weight move that re-ranks a feed is visible even when the top items stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Moves:
    """Items that entered or left a list, and each kept item's change of rank (positive = moved up)."""

    entered: tuple
    left: tuple
    moved: dict

    def mark(self, item: object) -> str:
        """A short badge for one item of the new list: "new", "↑ 3", "↓ 1", or "" when it kept its rank."""
        if item in self.entered:
            return "new"
        step = self.moved.get(item, 0)
        return f"↑ {step}" if step > 0 else f"↓ {-step}" if step < 0 else ""

    def summary(self) -> str:
        """One line: "2 entered, 2 left, 5 moved" or "nothing moved"."""
        parts = [f"{len(self.entered)} entered" if self.entered else "", f"{len(self.left)} left" if self.left else "",
                 f"{len(self.moved)} moved" if self.moved else ""]
        return ", ".join(p for p in parts if p) or "nothing moved"


def moves(before: Sequence, after: Sequence) -> Moves:
    """Compare two ranked lists of item ids (best first)."""
    old = {item: r for r, item in enumerate(before)}
    new = {item: r for r, item in enumerate(after)}
    moved = {item: old[item] - r for item, r in new.items() if item in old and old[item] != r}
    return Moves(tuple(i for i in after if i not in old), tuple(i for i in before if i not in new), moved)
