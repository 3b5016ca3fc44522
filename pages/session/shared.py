"""Results every session may share, computed once: a class on one lesson asks for the same things at once.

After a shared training (``jobs``: identical requests follow one job), twenty sessions hold the very
same trained stages and open the same page in the same second. Labelling and splitting the data, and
post-processing plus evaluating the stages, are pure functions of their inputs, so the first request
computes and the others wait for it (single flight), then every session reads the same result.
Shared results are read-only, like the start-up training's stages (``demo``).

Keys hold their inputs themselves (trained outputs and prepared data compare by identity), so an
entry can never be confused with another object that reused a freed id. A small LRU bounds memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class _Entry:
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class SingleFlight:
    """``get(key, compute)``: the value for ``key``, computed once however many threads ask at once;
    the ``size`` most recently used keys are kept. A failed computation is not kept: the next asks again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.computed = 0  # how many computations ran (for tests and the log)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            mine = entry is None
            if mine:
                entry = self._entries[key] = _Entry()
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if mine:
            try:
                entry.value = compute()
                self.computed += 1
            except BaseException as exc:
                entry.error = exc
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
            finally:
                entry.done.set()
        else:
            entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return entry.value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


PREPARED = SingleFlight(8)  # labelled and split data, by dataset and settings
VIEWS = SingleFlight(8)  # trained stages post-processed and evaluated, by their outputs and settings
