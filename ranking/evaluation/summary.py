"""The text report of a run, as the CLI prints it: data and split, one metric row per list, grouped notes."""

from __future__ import annotations

from pathlib import Path


def run_summary(result, out: Path) -> list[str]:
    """What `run` prints: the data and split, one metric row per stage, grouped notes, where it wrote."""
    from ranking import names
    from ranking.evaluation.evaluate import MIN_USERS

    ds, prep, ev, k = result.prep.dataset, result.prep, result.evaluation, result.config.eval.k
    split = result.config.split
    from ranking.prep.impressions import describe_split

    lines = [f"{ds.name}: {ds.n_users} users, {ds.n_items} items, {len(prep.interactions)} interactions",
             describe_split(prep, split)]
    truth = ds.truth is not None
    head = ["list", *([f"oracle NDCG@{k}"] if truth else []), f"NDCG@{k}", f"recall@{k}", "recall@list",
            "pooled AUC"]
    rows = []
    lists = result.lists()
    from ranking.evaluation.baselines import TITLES

    bases = [(f"baseline: {TITLES.get(n, n)}", m) for n, m in (getattr(ev, "baselines", None) or {}).items()]
    for name, m in [*ev.stages.items(), ("random", ev.baseline), *bases]:
        width = lists[name].width if name in lists else _list_width(m, k)
        keys = [*([names.at("oracle_ndcg", k)] if truth else []), names.at("ndcg", k), names.at("recall", k),
                names.at("recall", width), "auc"]
        rows.append([name, str(width), *(_num(m.get(key)) for key in keys)])
    if all(c == "-" for r in rows for c in r[2:]):
        lines.append("no ranking metric can be measured on this data (see the notes); list lengths: "
                     + ", ".join(f"{r[0]} {r[1]}" for r in rows[:-1]))
    else:
        lines += _table([["", *head], *rows])
    if prep.n_eval_users < MIN_USERS:
        lines.append(f"note: only {prep.n_eval_users} users have at least {split.min_history} interactions, so "
                     "too few users are held out for ranking metrics; a generated world "
                     "(python -m ranking synth) is big enough to measure them.")
    if truth and getattr(ev, "baselines", None):
        lines.append(baseline_sentence(ev))
    lines += impression_lines(getattr(ev, "impressions", None) or {})
    lines += [f"note: {n}" for n in group_notes(list(ev.notes))]
    lines.append(f"wrote {out}: rankings.csv, metrics.json, config.json, stages.npz "
                 f"({result.timing_s.get('total', 0.0):.1f} s)")
    return lines


def impression_lines(doc: dict) -> list[str]:
    """The per-impression table (AUC, MRR, nDCG@5, nDCG@10 with 95 % intervals), the comparison with smoothed-CTR
    popularity and, on MIND, the published values; one line saying why when there is none."""
    from ranking.evaluation import impression as IM

    if not doc:
        return []
    if not doc.get("available"):
        return [f"per-impression metrics: none ({doc.get('reason', 'no held-out impressions')})"]
    lines = [f"per impression (MIND's official metrics, y = click; mean over {doc['n_scored']:,} held-out impressions "
             f"of {doc['n_users']:,} users with a click and a non-click, {doc['mean_candidates']:.1f} candidates "
             f"each; {doc['n_no_click']:,} without a click and {doc['n_all_click']:,} clicked throughout left out; "
             "[95 % user-bootstrap interval]):"]
    rows = [["list", *(IM.TITLES[m] for m in IM.METRICS), "AUC − smoothed CTR"]]
    vs = doc.get("vs_" + IM.REFERENCE, {})
    for name, m in doc["lists"].items():
        d = vs.get(name)
        rows.append([_list_title(name), *(_ci(m[k], m[k + "_low"], m[k + "_high"]) for k in IM.METRICS),
                     _ci(d["auc"], d["auc_low"], d["auc_high"], "+") if d else "-"])
    lines += _table(rows)
    lines += impression_verdicts(doc)
    if doc.get("not_scored"):
        lines.append("not scored per impression: " + "; ".join(f"{_list_title(n)} ({why})"
                                                              for n, why in doc["not_scored"].items()))
    for name, ref in doc.get("references", {}).items():
        lines.append(f"published on MIND-small dev, {name}: " + ", ".join(
            f"{IM.TITLES[k]} {ref[k]:.3f}" for k in IM.METRICS))
    if doc.get("references_source"):
        lines.append(f"source: {doc['references_source']}; other data and models than this run, for scale only")
    return lines


def impression_verdicts(doc: dict) -> list[str]:
    """One sentence per learned stage that does not beat smoothed-CTR popularity per impression (AUC, paired
    95 % interval), and one saying so when every scored stage does."""
    from ranking.evaluation import impression as IM

    out, beaten = [], []
    for name in (n for n in doc.get("lists", {}) if n.startswith("stage")):
        said = IM.verdict(doc, name)
        d = doc.get("vs_" + IM.REFERENCE, {}).get(name, {})
        gap = f"{d.get('auc', float('nan')):+.3f} [{d.get('auc_low', float('nan')):+.3f}, " \
              f"{d.get('auc_high', float('nan')):+.3f}]"
        if said == "above":
            beaten.append(_list_title(name))
        elif said == "tied":
            out.append(f"{_list_title(name)} does not beat smoothed-CTR popularity per impression: its AUC minus "
                       f"popularity's is {gap}, an interval that holds 0.")
        elif said == "below":
            out.append(f"{_list_title(name)} is below smoothed-CTR popularity per impression: AUC difference {gap}.")
    if beaten and not out:
        out.append(f"{' and '.join(beaten)} beat{'s' if len(beaten) == 1 else ''} smoothed-CTR popularity per "
                   "impression (AUC; the paired 95 % interval of the difference is above 0).")
    return out


def impression_frame(doc: dict):
    """The per-impression table for people: one row per list, each metric as 'mean (95 % interval)'."""
    import pandas as pd

    from ranking.evaluation import impression as IM

    vs = doc.get("vs_" + IM.REFERENCE, {})
    rows = []
    for name, m in doc.get("lists", {}).items():
        d = vs.get(name)
        rows.append({"List": _list_title(name),
                     **{IM.TITLES[k]: _span(m[k], m[k + "_low"], m[k + "_high"]) for k in IM.METRICS},
                     "AUC − smoothed CTR": (_span(d["auc"], d["auc_low"], d["auc_high"], "+") if d
                                            else "the reference itself")})
    return pd.DataFrame(rows)


def _ci(v: float, lo: float, hi: float, sign: str = "") -> str:
    """'v [lo, hi]' for the CLI; the interval left out (said) when too few users resample."""
    if v != v:
        return "-"
    if lo != lo or hi != hi:
        return f"{v:{sign}.3f} [no interval]"
    return f"{v:{sign}.3f} [{lo:{sign}.3f}, {hi:{sign}.3f}]"


def _list_title(name: str) -> str:
    from ranking import names
    from ranking.evaluation.baselines import TITLES

    return "random order" if name == "random" else TITLES.get(name, names.stage_title(name))


def baseline_sentence(ev, verdict_from: str = "the seed check's verdict (python -m ranking seeds)") -> str:
    """The last list against the best baseline, in one sentence with the numbers (one training run)."""
    from ranking import names
    from ranking.evaluation.baselines import TITLES

    last = list(ev.stages)[-1]
    values = {n: ev.headline(n) for n in ev.baselines}
    values = {n: v for n, v in values.items() if v == v}
    if not values:
        return "No baseline could be scored on this data."
    best = max(values, key=values.get)
    mine, gap = ev.headline(last), ev.headline(last) - values[best]
    where = "above" if gap > 0 else "below"
    return (f"{names.stage_title(last)}: {names.title(ev.basis)} {mine:.3f}, {abs(gap):.3f} {where} the best baseline "
            f"({TITLES.get(best, best)}, {values[best]:.3f}) in this one training run; whether that is more than "
            f"training noise is {verdict_from}.")


def _list_width(metrics: dict, k: int) -> int:
    """A reference list's length: the longest cut-off its recall is reported at (recall@list), else k."""
    cuts = [int(key.split("@")[1]) for key in metrics if key.startswith("recall@") and key.split("@")[1].isdigit()]
    return max(cuts, default=k)


def group_notes(notes: list[str]) -> list[str]:
    """Merge notes that differ only in their 'stage: ' prefix ('stage1, stage2: same text')."""
    groups: dict[str, list[str]] = {}
    for note in notes:
        where, sep, text = note.partition(": ")
        if not sep or " " in where:
            where, text = "", note
        groups.setdefault(text, []).append(where)
    return [f"{', '.join(w for w in wheres if w)}: {text}" if any(wheres) else text
            for text, wheres in groups.items()]


def _table(rows: list[list[str]]) -> list[str]:
    """Rows as aligned text: first column left, the others right."""
    widths = [max(map(len, col)) for col in zip(*rows, strict=True)]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in rows]


def _num(v) -> str:
    return "-" if v is None or v != v else f"{v:.3f}"


def _span(v: float, lo: float, hi: float, sign: str = "") -> str:
    """'v (lo–hi)' for people; a sentence instead of "nan" when the estimate does not exist."""
    if v is None or v != v:
        return "no estimate (no weight on this list)"
    if lo != lo or hi != hi:
        return f"{v:{sign}.3f} (no interval: too few users)"
    return f"{v:{sign}.3f} ({lo:{sign}.3f} to {hi:{sign}.3f})"


def counterfactual_frame(ev):
    """Off-policy estimates for people: one row per list and baseline, each estimate with its 95 % interval, the
    true policy value on a generated world, the effective sample size and the impressions that matched."""
    import pandas as pd

    from ranking.evaluation.counterfactual import ESTIMATORS, TITLES

    values = ev.counterfactual.get("values", {})
    rows = []
    for name in [*ev.stages, *ev.baselines]:
        v = values.get(name)
        if not v:
            continue
        row = {"List": _list_title(name)}
        if "true_value" in v:
            row["True policy value"] = f"{v['true_value']:.3f}"
        for est in ESTIMATORS:
            row[TITLES[est]] = _span(v[est], v.get(f"{est}_low", float("nan")), v.get(f"{est}_high", float("nan")))
        row["Effective sample size"] = f"{v['effective_sample_size']:,.0f} of {v['n_impressions']:,}"
        row["Impressions matched"] = f"{v['n_matched']:,}"
        rows.append(row)
    return pd.DataFrame(rows)


def difference_frame(cf: dict):
    """Paired differences between stage lists for people: the truth's (generated worlds) and each estimator's with
    its 95 % interval, and whether that interval holds the true difference."""
    import pandas as pd

    from ranking.evaluation.counterfactual import ESTIMATORS, TITLES

    rows = []
    for pair, d in cf.get("differences", {}).items():
        a, b = pair.split("→")
        row = {"Lists": f"{_list_title(a)} → {_list_title(b)}"}
        if "true" in d:
            row["True difference"] = f"{d['true']:+.3f}"
        for est in ESTIMATORS:
            row[TITLES[est]] = _span(d[est], d[f"{est}_low"], d[f"{est}_high"], "+")
            if "true" in d:
                row[TITLES[est]] += " · holds the truth" if d[f"{est}_covers"] else " · misses the truth"
        rows.append(row)
    return pd.DataFrame(rows)


def separation_sentences(cf: dict) -> list[str]:
    """Per estimator, the pairs of stage lists its paired 95 % interval cannot tell apart (the interval holds 0)."""
    from ranking.evaluation.counterfactual import ESTIMATORS, TITLES, separable

    out = []
    for est in ESTIMATORS:
        apart = separable(cf, est)
        tied = [p for p, ok in apart.items() if not ok]
        if tied:
            pairs = ", ".join(" → ".join(_list_title(x) for x in p.split("→")) for p in tied)
            out.append(f"{TITLES[est]} cannot separate {pairs}: the paired 95 % interval of the difference holds 0.")
    return out


def impression_caption(doc: dict) -> str:
    """How the per-impression metrics were computed, in words, for the Evaluation page."""
    return (f"Each list scores the shown candidates of every held-out impression; per impression, AUC, MRR and "
            f"nDCG@5/10 of that order against the clicks, then the mean over the {doc['n_scored']:,} impressions "
            f"with a click and a non-click ({doc['n_no_click']:,} without a click and {doc['n_all_click']:,} "
            "clicked throughout are left out, as MIND's evaluation script cannot score them). Ties are broken by "
            "item position. Brackets: 95 % interval from resampling users. Stage 1 and the final list order "
            "candidates without a score per pair, so they are not scored here. The AUC elsewhere on this page is "
            "pooled over all held-out pairs at once.")


def impression_references(doc: dict) -> list[str]:
    """MIND's published values and their source (MIND data only), one line each."""
    from ranking.evaluation import impression as IM

    lines = [f"Published on MIND-small's dev set, {name}: " + ", ".join(f"{IM.TITLES[k]} {ref[k]:.3f}"
                                                                        for k in IM.METRICS) + "."
             for name, ref in doc.get("references", {}).items()]
    if doc.get("references_source"):
        lines.append(f"Source: {doc['references_source']}. Other data and models than this run: for scale only.")
    return lines


def counterfactual_caption(cf: dict) -> str:
    """What the off-policy estimates estimate and how, in words, for the Evaluation page."""
    return ("Each estimate is the value of a list for a user reading it top-down: Σ over its top k of the slot's "
            "examination chance 1/log₂(rank + 1) × the item's compound engagement. Held-out impressions are "
            "re-weighted by 1 / the logged propensity, their reward divided by the examination chance of the slot "
            "they were shown in. IPS: the plain re-weighted mean; clipped IPS caps the weight at "
            f"{cf.get('clip', 10):g}; SNIPS divides by the sum of weights; doubly robust (DR) adds a reward "
            "model's value of every listed item and corrects it on the matched impressions. DR's reward model: "
            + cf["reward_model"] + ". Intervals: 95 %, resampling users; differences are paired (the same users "
            "for both lists). Items the logging policy could not show get no weight, so IPS and SNIPS miss them; "
            "DR's model covers them, with its own bias.")
