"""Every URL parameter of the lab, declared once, and the one parser that reads them.

A lesson link is typed, pasted and shared, so any value may arrive: text where a number goes, ``inf``,
``1e999``, five thousand digits, an option that does not exist. ``parse`` turns a raw value into the
parameter's value, or into its default with one sentence naming what was wrong
("The link's user 'inf' is not a user id; showing user 1 instead."); the page shows the sentence
and drops the value from the URL. Numbers must be finite, in range and short (``MAX_CHARS``), whole
where the setting is whole; choices must be one of the options; ids must look like ids (whether
such a run or job exists is the business of ``pages.session.runs`` and ``jobs``).

No widget here: the page layer (``settings.adopt_url``) calls ``parse_all`` once per session.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pages.session.datasets import GEN_DEFAULTS, GEN_LIMITS, SOURCES
from pages.session.runs import ID_PATTERN as RUN_ID

from . import settings as W
from .tour import STEPS

MAX_CHARS = 40  # longer than any valid value: a 5,000-digit number is refused before it is read
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")  # jobs.Job.id: secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Param:
    """One URL parameter: its name in sentences, its kind, default and what it allows."""

    key: str
    label: str
    kind: str  # int | float | choice | bool | id
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    options: tuple = ()
    pattern: re.Pattern | None = None
    aliases: tuple[tuple[str, Any], ...] = ()  # other texts that name an option (a radio's label)
    says: str = ""  # what a valid value is, when the kind's own words would mislead
    instead: str = ""  # what the page does instead, when it is not "using <default>"

    def expects(self) -> str:
        """What a valid value is, as the end of a sentence."""
        if self.says:
            return self.says
        if self.kind == "int":
            return f"a whole number from {_num(self.lo)} to {_num(self.hi)}"
        if self.kind == "float":
            return f"a number from {_num(self.lo)} to {_num(self.hi)}"
        if self.kind == "choice":
            return "one of " + ", ".join(f"'{o}'" for o in self.options)
        if self.kind == "bool":
            return "on or off (1 or 0)"
        return "an id of this lab"  # every id parameter says what its ids look like (``says``)

    def parse(self, raw: object) -> Any:
        """The value ``raw`` (a URL string) stands for; raises ``ValueError`` when it stands for none."""
        if self.kind == "id":  # used as written (runs and jobs read the URL's own text)
            if not self.pattern.fullmatch(str(raw)):
                raise ValueError
            return str(raw)
        text = str(raw).strip()
        if len(text) > MAX_CHARS:
            raise ValueError
        if self.kind == "bool":
            if text.lower() in TRUE + FALSE:
                return text.lower() in TRUE
            raise ValueError
        if self.kind == "choice":
            for alias, option in self.aliases:
                if alias == text:
                    return option
            for option in self.options:
                if str(option) == text or (not isinstance(option, str) and _same_number(option, text)):
                    return option
            raise ValueError
        number = float(text)  # ValueError for text; inf and nan are refused below
        if not math.isfinite(number) or not self.lo <= number <= self.hi:
            raise ValueError
        if self.kind == "int":
            if number != int(number):
                raise ValueError
            return int(number)
        return number


def _num(x: float | None) -> str:
    return f"{x:,g}" if x is not None and abs(x) < 1e6 else f"{x:,.0f}"


def _same_number(option: float, text: str) -> bool:
    try:
        return float(text) == option
    except ValueError:
        return False


def _setting(s: W.Setting) -> Param:
    label = s.label[0].lower() + s.label[1:] if s.label[1:2].islower() else s.label  # "Max depth" → "max depth"
    if s.kind == "toggle":
        return Param(s.key, label, "bool", s.default)
    if s.options:
        return Param(s.key, label, "choice", s.default, options=s.options)
    return Param(s.key, label, "int" if isinstance(s.default, int) else "float", s.default, s.lo, s.hi)


_RUN_IS = "valid (a run id is 22 to 64 letters, digits, '-' or '_')"
_GEN_LABELS = {"g_users": "number of users", "g_items": "number of items", "g_inter": "number of interactions",
               "g_seed": "world seed"}
PARAMS: dict[str, Param] = {p.key: p for p in (
    *(_setting(s) for s in W.SETTINGS),
    Param("data", "dataset", "choice", "sample", options=tuple(SOURCES),
          aliases=tuple((label, key) for key, label in SOURCES.items())),
    *(Param(k, _GEN_LABELS[k], "int", GEN_DEFAULTS[k], *GEN_LIMITS[k]) for k in GEN_DEFAULTS),
    # which ids exist depends on the dataset: the page checks that once it is loaded
    Param("user", "user", "int", None, 0, 10**12, says="a user id", instead="showing the first user instead"),
    Param("tour", "lesson step", "int", None, 1, len(STEPS), instead="the lesson did not start"),
    Param("presenter", "presenter mode", "bool", False),
    Param("run", "trained run", "id", None, pattern=RUN_ID, says=_RUN_IS),
    Param("pin", "pinned run", "id", None, pattern=RUN_ID, says=_RUN_IS),
    Param("job", "training job", "id", None, pattern=JOB_ID,
          says="valid (a job id is 16 letters, digits, '-' or '_')"),
)}


def shown(raw: object) -> str:
    """A raw value quoted for a sentence, cut short when long."""
    text = str(raw)
    return f"'{text}'" if len(text) <= MAX_CHARS else f"'{text[:12]}…' ({len(text):,} characters)"


def problem(param: Param, raw: object) -> str:
    """The sentence for a value ``param`` cannot use."""
    if param.instead:
        fallback = param.instead
    elif param.default is None:
        fallback = "it was ignored"
    else:
        fallback = f"using {_plain(param.default)} instead"
    return f"The link's {param.label} {shown(raw)} is not {param.expects()}; {fallback}."


def _plain(value: Any) -> str:
    return "on" if value is True else "off" if value is False else str(value)


def parse(key: str, raw: object) -> tuple[Any, str | None]:
    """(value, None) for a usable raw value of parameter ``key``, else (its default, the sentence why)."""
    param = PARAMS[key]
    try:
        return param.parse(raw), None
    except (ValueError, TypeError, OverflowError):
        return param.default, problem(param, raw)


@dataclass(frozen=True)
class Parsed:
    """A whole query: the usable values, a sentence per unusable one, and the keys to drop from the URL."""

    values: dict[str, Any]
    problems: tuple[str, ...]
    bad: tuple[str, ...]


def parse_all(query: Mapping[str, object]) -> Parsed:
    """Every declared parameter present in ``query`` (others are left alone: Streamlit has its own).

    An empty value (``?run=``) is no value: dropped from the URL without a sentence.
    """
    values, problems, bad = {}, [], []
    for key, raw in query.items():
        if key not in PARAMS:
            continue
        if str(raw).strip() == "":
            bad.append(key)
            continue
        value, why = parse(key, raw)
        if why is None:
            values[key] = value
        else:
            problems.append(why)
            bad.append(key)
    return Parsed(values, tuple(problems), tuple(bad))
