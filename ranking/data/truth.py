"""Ground truth as expected signals, and the expected compound score (gain) under any label weights.

Where it sits: beside ``ranking.data.dataset``'s ``Truth`` protocol. A generated world's truth
knows, for every user × item at serving time ("now"), the expected value of each
post-impression signal for an impression that the user examines (the top slot)::

    p_click    P(click)               e_dwell    E[dwell_time in seconds]  (0 without a click)
    p_share    P(share)               e_comment  E[comment count]          (0 without a click)
    p_hide     P(hide)

``gain(user_pos, label_config)`` is the expected compound score under that label's weights,
Σ wᵢ·E[signalᵢ] (hide subtracted), with dwell divided by the label's expected dwell:

- a number → that number;
- ``mean`` / ``median`` / ``per_topic`` → ``dwell_norm`` when the caller passes it (a number or
  one value per item; ``ranking.evaluation`` passes what the label computes from the data), else
  the documented fallback ``FALLBACK_EXPECTED_DWELL`` = 10 s (the notebook's constant).

``comment_mode="indicator"`` needs P(comment ≥ 1): in the generator a commenter writes a second
comment with probability ``SECOND_COMMENT``, so P(comment ≥ 1) = e_comment / (1 + SECOND_COMMENT)
exactly. ``rows(user_pos)`` — the protocol every caller uses — is the gain under the *default*
``LabelConfig`` clipped at 0: ``max(gain, 0)``, because NDCG needs non-negative gains (an item
expected to annoy more than please is as good as nothing, never worse, in an ideal list).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.config import LabelConfig
from ranking.data import schema as S

FALLBACK_EXPECTED_DWELL = 10.0
SECOND_COMMENT = 0.3  # P(a second comment | at least one): the generator's model, see ranking.data.latent


def dwell_divisor(config: LabelConfig, dwell_norm: float | np.ndarray | None = None) -> float | np.ndarray:
    """The expected dwell the label divides by: its number, else ``dwell_norm``, else the fallback."""
    if not isinstance(config.expected_dwell, str):
        return float(config.expected_dwell)
    return FALLBACK_EXPECTED_DWELL if dwell_norm is None else dwell_norm


def gain_from_signals(signals: dict[str, np.ndarray], config: LabelConfig,
                      dwell_norm: float | np.ndarray | None = None) -> np.ndarray:
    """float32 Σ wᵢ·E[signalᵢ] (the expected compound score) from expected signals; may be negative."""
    comment = signals[S.E_COMMENT]
    if config.comment_mode == "indicator":
        comment = comment / np.float32(1.0 + SECOND_COMMENT)
    divisor = np.asarray(dwell_divisor(config, dwell_norm), dtype=np.float64)
    return config.combine(signals[S.P_CLICK], signals[S.E_DWELL] / divisor, signals[S.P_SHARE], comment,
                          signals[S.P_HIDE]).astype(np.float32)


def non_negative(gain: np.ndarray) -> np.ndarray:
    """NDCG's gains: max(gain, 0)."""
    return np.maximum(gain, np.float32(0.0))


class SignalsMixin:
    """``gain`` and ``rows`` for any truth that implements ``signals(user_pos)``."""

    def signals(self, user_pos: np.ndarray) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def gain(self, user_pos: np.ndarray, config: LabelConfig | None = None,
             dwell_norm: float | np.ndarray | None = None) -> np.ndarray:
        """float32 (len(user_pos), n_items) expected compound score under ``config`` (default weights)."""
        return gain_from_signals(self.signals(user_pos), config or LabelConfig(), dwell_norm)

    def rows(self, user_pos: np.ndarray) -> np.ndarray:
        """float32 max(gain under the default LabelConfig, 0): the ``Truth`` protocol's rows."""
        return non_negative(self.gain(user_pos))


@dataclass(frozen=True, eq=False)
class SignalTruth(SignalsMixin):
    """Expected signals held as full users × items matrices (read from truth.csv)."""

    matrices: dict[str, np.ndarray]  # name in schema.SIGNALS → float32 (n_users, n_items)

    def signals(self, user_pos: np.ndarray) -> dict[str, np.ndarray]:
        u = np.asarray(user_pos)
        return {name: m[u] for name, m in self.matrices.items()}
