"""Headlines for generated items: "Publisher: headline" from templates per topic, no external data.

Where it sits: ``ranking.data.synth`` calls ``headlines`` once per world with its own random
stream, so titles are deterministic per seed and never change any other draw. A headline is
a template with slots filled from word lists of the item's topic; clickbait items (hidden
trait above 0.5) use teaser templates, so a careful reader can spot them, as in real feeds.
"""

from __future__ import annotations

import numpy as np

# Per topic: subjects (who/what), objects (a thing that happens), places/contexts.
WORDS = {
    "politics": (
        ("lawmakers", "the senate", "city councils", "the opposition", "regional governors", "voters",
         "the finance committee", "election officials", "diplomats", "the coalition"),
        ("a new climate bill", "the budget deal", "voting reform", "the border agreement", "a tax overhaul",
         "housing subsidies", "the trade pact", "campaign finance rules", "the pension plan", "a data privacy law"),
        ("in the capital", "after a late-night session", "ahead of the vote", "despite protests",
         "in a surprise move", "as polls tighten"),
    ),
    "technology": (
        ("chipmakers", "startups", "open-source developers", "phone makers", "cloud providers", "AI labs",
         "battery researchers", "game studios", "robotics firms", "security teams"),
        ("smaller AI models", "solid-state batteries", "a new chip design", "quantum error correction",
         "passwordless logins", "satellite internet", "repairable laptops", "on-device translation",
         "a browser overhaul", "cheaper sensors"),
        ("this quarter", "at a developer conference", "after a major outage", "in a new report",
         "despite supply limits", "in early tests"),
    ),
    "sports": (
        ("the home side", "the league leaders", "a rookie striker", "the veteran coach", "the national team",
         "marathon runners", "the underdogs", "tennis fans", "the title holders", "cycling teams"),
        ("a last-minute winner", "the transfer window", "a record season", "the injury list",
         "a new stadium", "the playoff race", "video refereeing", "a comeback win", "the draft", "ticket prices"),
        ("on Sunday", "in extra time", "before the final", "after a tough week", "at home", "on the road"),
    ),
    "business": (
        ("central banks", "retailers", "small businesses", "airlines", "carmakers", "investors",
         "shipping firms", "food producers", "energy companies", "insurers"),
        ("interest rates", "quarterly earnings", "supply chains", "a merger", "remote work",
         "consumer prices", "the housing market", "electric fleets", "a hiring freeze", "export demand"),
        ("this year", "as markets wobble", "after weak data", "in a new survey", "amid rising costs",
         "for the first time"),
    ),
    "entertainment": (
        ("a pop star", "streaming services", "indie filmmakers", "the festival jury", "a reality-TV host",
         "fans", "a veteran actor", "music labels", "critics", "a breakout band"),
        ("a surprise album", "the award season", "a long-awaited sequel", "a reunion tour", "a casting choice",
         "a new series", "ticket resales", "a documentary", "a viral trailer", "a memoir"),
        ("this weekend", "on the red carpet", "after the premiere", "in a rare interview", "online",
         "at the box office"),
    ),
}

# Verb-free or past-tense templates: subjects are singular or plural, so no verb has to agree.
PLAIN = (
    "{O}: what it means for {s}",
    "How {s} rethought {o}",
    "{S} took on {o} {c}",
    "{O}: what {s} got right, and wrong",
    "{S} and {o}, explained",
    "Inside the debate over {o}",
    "The week {s} bet on {o}",
    "Analysis: {s}, {o} and what comes next",
)
TEASER = (
    "You won't believe what {s} just did about {o}",
    "{S} stunned everyone with {o} {c}",
    "This is why everyone is talking about {o}",
    "{O} shocked {s}, and it gets stranger",
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def headlines(topics: list[str], publishers: list[str], clickbait: np.ndarray,
              rng: np.random.Generator) -> list[str]:
    """One "Publisher: headline" per item, slots filled from its topic's words."""
    n = len(topics)
    draws = rng.integers(0, 2**31, size=(n, 4))
    out = []
    for j in range(n):
        subjects, objects, contexts = WORDS[topics[j]]
        templates = TEASER if clickbait[j] > 0.5 else PLAIN
        s, o, c = subjects[draws[j, 1] % len(subjects)], objects[draws[j, 2] % len(objects)], \
            contexts[draws[j, 3] % len(contexts)]
        text = templates[draws[j, 0] % len(templates)].format(s=s, o=o, c=c, S=_cap(s), O=_cap(o))
        out.append(f"{publishers[j]}: {text}")
    return out
