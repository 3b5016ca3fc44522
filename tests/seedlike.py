"""A stand-in for ../shared/seed-data, generated in code so the suite runs anywhere.

Same schema and the same traps as the notebook's seed tables: a UTF-8 BOM, CR-only line
endings without a final line end, region "NA" (North America) in Users.csv and in
region_restriction, ';'-separated blocklists (some naming a real publisher, some naming
none), 100 users, 100 items with ids 101–200, 106 interactions (94 users with one, 6 with two),
the five topics but only three affinity columns, and a few events before their item's
publication. Only the first five interaction rows are the seed's: they are the notebook's
documented label example (scores 2.62, 3.75, 1.255, −1.0, 0.16). Everything else is drawn
from a fixed-seed generator, so the bytes are the same on every machine.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

NAMES = ("Users.csv", "Content.csv", "Interaction.csv")
USERS_HEADER = ("user_id", "device_type", "region", "topic_affinity_politics", "topic_affinity_tech",
                "topic_affinity_sports", "avg_session_length", "blocklist")
CONTENT_HEADER = ("content_id", "publisher", "topic", "quality_score", "region_restriction", "publish_timestamp")
INTER_HEADER = ("user_id", "content_id", "click", "dwell_time", "share", "comment", "hide", "event_timestamp")
PUBLISHERS = ("TheDailyNews", "FocusTech", "SportZone", "InsightPost", "DigiTrends", "GlobalSports",
              "NewHorizons", "NewsNow", "TechGuru", "WorldWideNews")
TOPICS = ("politics", "technology", "sports", "business", "entertainment")
REGIONS = (("NA", 24), ("EU", 19), ("AS", 17), ("AF", 15), ("OC", 15), ("SA", 10))
RESTRICTIONS = (("ALL", 33), ("NA", 26), ("EU", 26), ("AS", 15))
# Blocklists: mostly empty; names that are no publisher (as in the seed) and real publishers (so the filter bites).
BLOCKLISTS = (("", 64), ("publisher_x", 12), ("source_y", 8), ("publisher_x;source_y", 4), ("SportZone", 5),
              ("TechGuru;publisher_x", 4), ("FocusTech;DigiTrends", 3))
REAL_BLOCKED = {"SportZone", "TechGuru", "FocusTech", "DigiTrends"}
# The notebook's label example: the seed's first five interaction rows, verbatim.
FIRST_ROWS = (
    ("1", "101", "1", "12.4", "0", "1", "0", "2025-04-01T09:00:00Z"),
    ("1", "108", "1", "15", "1", "0", "0", "2025-04-01T10:45:00Z"),
    ("2", "101", "1", "5.1", "0", "0", "0", "2025-04-01T09:10:00Z"),
    ("2", "104", "0", "0", "0", "0", "1", "2025-04-01T13:05:00Z"),
    ("3", "136", "0", "3.2", "0", "0", "0", "2025-04-02T14:50:00Z"),
)
FIRST_SCORES = (2.62, 3.75, 1.255, -1.0, 0.16)
N_USERS, N_ITEMS, TWO_EVENT_USERS = 100, 100, (1, 2, 3, 4, 5, 6)
N_INTERACTIONS = N_USERS + len(TWO_EVENT_USERS)  # 106
START = datetime(2025, 4, 1, 8, 20, tzinfo=UTC)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _f32(x: float) -> str:
    """As the lab's writer prints a float32 column (shortest text, no trailing '.0')."""
    return str(np.float32(x)).removesuffix(".0")


def _f64(x: float) -> str:
    return str(np.float64(x)).removesuffix(".0")


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def tables(seed: int = 2025) -> dict[str, list[tuple[str, ...]]]:
    """The three tables as text rows (header first); the same seed always gives the same rows."""
    rng = random.Random(seed)
    content = [CONTENT_HEADER]
    published: dict[int, datetime] = {}
    for k in range(N_ITEMS):
        cid = 101 + k
        when = START + timedelta(minutes=55 * k + (rng.randrange(0, 30, 5) if k else 0))
        published[cid] = when
        content.append((str(cid), rng.choice(PUBLISHERS), TOPICS[rng.choices(range(5), (21, 25, 22, 18, 14))[0]],
                        _f32(round(rng.uniform(0.3, 0.98), 2)), _pick(rng, RESTRICTIONS),
                        when.strftime(TIME_FORMAT)))
    users = [USERS_HEADER]
    for uid in range(1, N_USERS + 1):
        users.append((str(uid), rng.choices(("mobile", "desktop", "tablet"), (43, 32, 25))[0], _pick(rng, REGIONS),
                      *(_f32(round(rng.random(), 2)) for _ in range(3)), _f32(round(rng.uniform(1.5, 10), 2)),
                      _pick(rng, BLOCKLISTS)))
    inter = [INTER_HEADER, *FIRST_ROWS]
    taken = {(r[0], r[1]) for r in FIRST_ROWS}
    wanted = [3, *[u for u in TWO_EVENT_USERS[3:] for _ in range(2)], *range(7, N_USERS + 1)]
    for uid in wanted:
        cid = rng.randrange(101, 101 + N_ITEMS)
        while (str(uid), str(cid)) in taken:
            cid = rng.randrange(101, 101 + N_ITEMS)
        taken.add((str(uid), str(cid)))
        # mostly after publication, a few before (a warning in the seed too); 5-minute steps give ties
        when = published[cid] + timedelta(minutes=5 * rng.randint(-8, 200))
        if rng.random() < 0.7:  # a click
            click, dwell, share = 1, round(rng.uniform(0.5, 15), 1), int(rng.random() < 0.2)
            comment, hide = rng.choice((0, 0, 0, 1, 2)), 0
        else:
            click, dwell, share, comment = 0, rng.choice((0.0, round(rng.uniform(0.1, 4), 1))), 0, 0
            hide = int(rng.random() < 0.25)
        inter.append((str(uid), str(cid), str(click), _f64(dwell), str(share), str(comment), str(hide),
                      when.strftime(TIME_FORMAT)))
    return {"Users.csv": users, "Content.csv": content, "Interaction.csv": inter}


def encode(rows: list[tuple[str, ...]]) -> bytes:
    """The seed's bytes: BOM, CR-only line endings, no line end after the last row."""
    return ("\ufeff" + "\r".join(",".join(r) for r in rows)).encode("utf-8")


def write(folder: Path, seed: int = 2025) -> Path:
    """Write Users.csv, Content.csv and Interaction.csv into ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables(seed).items():
        (folder / name).write_bytes(encode(rows))
    return folder


def real_seed_dir() -> Path:
    """Where the real seed tables are looked for: $LAB_SEED_DIR, else ../shared/seed-data beside the checkout."""
    import os

    default = Path(__file__).resolve().parents[2] / "shared" / "seed-data"
    return Path(os.environ.get("LAB_SEED_DIR") or default)
