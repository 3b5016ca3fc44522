"""Typed errors raised by the library; pages and the CLI catch and present them."""

from __future__ import annotations


class RankingError(Exception):
    """Base class for every error the library raises on purpose."""


class DataError(RankingError, ValueError):
    """Input tables are unusable; ``problems`` lists every problem found, each self-contained."""

    def __init__(self, problems: list[str] | str, warnings: list[str] | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.warnings = list(warnings or [])
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{len(self.problems)} problem(s) in the input data:"
        return "\n".join([head, *(f"- {p}" for p in self.problems)])


class ConfigError(RankingError, ValueError):
    """A setting is out of range or the settings contradict each other."""


class TrainingError(RankingError, RuntimeError):
    """Training cannot proceed with this data and configuration (e.g. only one label class)."""
