"""Multistage Ranking Lab — the library: a news-feed ranker in stages, and everything to judge it.

Folders by role: ``data`` (schema, loading, validation, the generated world, saved runs), ``prep``
(label, split, ranked lists), ``stages`` (candidates, GBDT, neural, post-processing, one contract),
``evaluation`` (metrics, the typed evaluation, explanations), ``viz`` (charts); ``pipeline`` is the
one stage chain, ``study`` reruns it per training seed on one split. The public API is re-exported
here and imported on first use, so ``import ranking`` stays light (XGBoost and TensorFlow load only
when a stage needs them)::

    import ranking
    world = ranking.generate(ranking.WorldSpec(n_users=500, n_items=200, n_interactions=10_000))
    result = ranking.run(world.to_dataset(), ranking.PipelineConfig(seed=7))
    result.evaluation.headline("final")
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "run": "ranking.pipeline", "train": "ranking.pipeline", "finish": "ranking.pipeline",
    "prepare_data": "ranking.pipeline", "save_run": "ranking.pipeline", "load_run": "ranking.pipeline",
    "PipelineResult": "ranking.pipeline", "StageOutput": "ranking.stages.contract",
    "PipelineConfig": "ranking.config", "LabelConfig": "ranking.config", "SplitConfig": "ranking.config",
    "CandidateConfig": "ranking.config", "GBDTConfig": "ranking.config", "NeuralConfig": "ranking.config",
    "PostConfig": "ranking.config", "EvalConfig": "ranking.config",
    "Dataset": "ranking.data.dataset", "load_dataset": "ranking.data.io", "load_uploaded": "ranking.data.io",
    "from_frames": "ranking.data.io", "generate": "ranking.data.synth", "WorldSpec": "ranking.data.world",
    "RunEvaluation": "ranking.evaluation.result", "RankedLists": "ranking.prep.lists",
    "RankingError": "ranking.errors", "DataError": "ranking.errors", "ConfigError": "ranking.errors",
    "TrainingError": "ranking.errors", "STAGES": "ranking.names", "LISTS": "ranking.names",
    "run_seed_study": "ranking.study", "seed_study": "ranking.study", "SeedStudy": "ranking.evaluation.seeds",
    "score_pairs": "ranking.scoring",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module 'ranking' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
