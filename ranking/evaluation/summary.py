"""The text report of a run, as the CLI prints it: data and split, one metric row per list, grouped notes."""

from __future__ import annotations

from pathlib import Path


def run_summary(result, out: Path) -> list[str]:
    """What `run` prints: the data and split, one metric row per stage, grouped notes, where it wrote."""
    from ranking import names
    from ranking.evaluation.evaluate import MIN_USERS
    from ranking.prep.split import IS_TEST

    ds, prep, ev, k = result.prep.dataset, result.prep, result.evaluation, result.config.eval.k
    n_test = int(prep.interactions[IS_TEST].sum())
    split = result.config.split
    lines = [f"{ds.name}: {ds.n_users} users, {ds.n_items} items, {len(prep.interactions)} interactions; "
             f"{len(prep.interactions) - n_test} train, {n_test} held out ({split.method} split); "
             f"{prep.n_eval_users} users have held-out interactions"]
    truth = ds.truth is not None
    head = ["list", *([f"oracle NDCG@{k}"] if truth else []), f"NDCG@{k}", f"recall@{k}", "recall@list", "AUC"]
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
    lines += [f"note: {n}" for n in group_notes(list(ev.notes))]
    lines.append(f"wrote {out}: rankings.csv, metrics.json, config.json, stages.npz "
                 f"({result.timing_s.get('total', 0.0):.1f} s)")
    return lines


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
