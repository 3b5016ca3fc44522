"""Online experiments in a generated world: serve feeds, A/B test, interleave, and the feedback loop.

Modules: ``live`` (the world as a live audience), ``policies`` (what can be served), ``abtest``,
``interleave`` (team-draft and impressions needed), ``loop`` (retraining on its own feed), ``measures``.
No streamlit here: the CLI (``abtest``, ``loop``) and the Online test page call these functions.
"""

from ranking.online.abtest import ABResult, ab_test
from ranking.online.interleave import InterleaveResult, impressions_needed, interleave_test, team_draft
from ranking.online.live import LiveWorld
from ranking.online.policies import ListPolicy, OraclePolicy, PopularityPolicy, RandomPolicy

__all__ = ["ABResult", "InterleaveResult", "ListPolicy", "LiveWorld", "OraclePolicy", "PopularityPolicy",
           "RandomPolicy", "ab_test", "impressions_needed", "interleave_test", "team_draft"]
