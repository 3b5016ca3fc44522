"""Column names of the three input tables (the notebook's schema) and of the library's outputs."""

from __future__ import annotations

USER_ID = "user_id"
CONTENT_ID = "content_id"

# Users.csv
DEVICE = "device_type"
REGION = "region"
SESSION = "avg_session_length"
BLOCKLIST = "blocklist"
AFFINITY_PREFIX = "topic_affinity_"

# Content.csv
PUBLISHER = "publisher"
TOPIC = "topic"
QUALITY = "quality_score"
RESTRICTION = "region_restriction"
PUBLISHED = "publish_timestamp"
TITLE = "title"  # optional headline

# Interaction.csv
CLICK = "click"
DWELL = "dwell_time"
SHARE = "share"
COMMENT = "comment"
HIDE = "hide"
EVENT_TS = "event_timestamp"
POSITION = "position"  # optional: 1-based slot in the logged slate
PROPENSITY = "propensity"  # optional: the logging policy's probability of this impression (see data/README.md)

# Post-impression signals: they make the label and must never be model inputs.
OUTCOMES = (CLICK, DWELL, SHARE, COMMENT, HIDE)

# truth.csv of a generated world: each signal's expected value at serving time ("now")
P_CLICK, E_DWELL, P_SHARE, E_COMMENT, P_HIDE = "p_click", "e_dwell", "p_share", "e_comment", "p_hide"
SIGNALS = (P_CLICK, E_DWELL, P_SHARE, E_COMMENT, P_HIDE)

# Derived columns
SCORE = "engagement_score"
LABEL = "label"
GRADE = "grade"

USER_COLUMNS = (USER_ID, DEVICE, REGION, SESSION, BLOCKLIST)
CONTENT_COLUMNS = (CONTENT_ID, PUBLISHER, TOPIC, QUALITY, RESTRICTION, PUBLISHED)
INTERACTION_COLUMNS = (USER_ID, CONTENT_ID, *OUTCOMES, EVENT_TS)
OPTIONAL_CONTENT_COLUMNS = (TITLE,)
OPTIONAL_INTERACTION_COLUMNS = (POSITION, PROPENSITY)

REGIONS = ("NA", "EU", "AS", "SA", "AF", "OC")
# Device types seen in the notebook; other values are kept with a warning.
DEVICES = ("mobile", "desktop", "tablet")
ALL_REGIONS = "ALL"

# Affinity column suffixes that do not spell their topic in full.
TOPIC_ALIASES = {"tech": "technology"}

# File names accepted for each table, compared case-insensitively.
FILE_NAMES = {
    "users": ("users.csv",),
    "content": ("content.csv",),
    "interactions": ("interaction.csv", "interactions.csv"),
}
TRUTH_FILE = "truth.csv"
WORLD_FILE = "world.json"
