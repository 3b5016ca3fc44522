"""A Streamlit session driven over its websocket, as the browser's frontend drives it, without a browser.

For the classroom load test: ten Chromium tabs on the test machine's 2 cores compete with the server
they are measuring (in a real class each learner's browser runs on their own laptop). This client sends
the same ``BackMsg``s the frontend sends (recorded from Chromium on this app): a rerun request with the
query string, the page and the widgets' values; a button click as a trigger value; a page switch as a
rerun of another page's script with no widget values; and every fragment's ``run_every`` poll after an
``auto_rerun`` message, with ``is_auto_rerun`` set. It reads the ``ForwardMsg``s back: the elements and
texts each run draws, the URL's query string, and the run's end. Not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FULL_RUN_ENDS = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)


@dataclass
class Widget:
    """A widget the latest full run drew: its element type, label and element message."""

    id: str
    kind: str
    label: str
    element: object


@dataclass
class Run:
    """What one full run (and the fragment runs since) drew: widgets by id, texts in order."""

    widgets: dict[str, Widget] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)


def _texts(kind: str, element) -> list[str]:
    """The text an element shows (markdown, badges, alerts, headings, progress captions, exceptions)."""
    if kind == "progress":
        return [element.text]
    if kind in ("markdown", "alert", "heading", "text", "code", "exception"):
        return [getattr(element, "body", "") or getattr(element, "message", "")]
    return []


class StreamlitSession:
    """One app session over ``ws://…/_stcore/stream``; use as ``async with StreamlitSession(url) as s``.

    ``open``, ``click``, ``move_slider`` and ``switch_page`` each send a full rerun and wait for its end;
    they return the seconds from the request leaving the client to the run's end arriving. Fragment polls
    (progress panels) run in the background at the interval the server asked for, like the browser's.
    """

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.query = ""
        self.page_hash = ""
        self.pages: dict[str, str] = {}  # page name → its script hash (from the navigation message)
        self.values: dict[str, WidgetState] = {}  # widget values this session has set on the current page
        self.current = Run()  # what the run in progress has drawn
        self.last = Run()  # what the latest finished full run (and its fragment runs) drew
        self.seen_texts: list[str] = []  # every text any run drew, in order
        self.errors: list[str] = []
        self._polls: dict[str, asyncio.Task] = {}
        self._full_done: asyncio.Event = asyncio.Event()
        self._in_full_run = False
        self._reader: asyncio.Task | None = None
        self._ws = None

    async def __aenter__(self) -> StreamlitSession:
        import websockets

        ws_url = self.url.replace("http://", "ws://").replace("https://", "wss://") + "/_stcore/stream"
        self._ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, origin=self.url,
                                            open_timeout=self.timeout)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._polls.values():
            task.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self._ws.close()

    # -- sending ----------------------------------------------------------------------------------
    def _message(self, states: list[WidgetState], page_hash: str, fragment_id: str = "",
                 page_name: str = "") -> bytes:
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string = self.query
        rerun.widget_states.SetInParent()
        rerun.widget_states.widgets.extend(states)
        rerun.page_script_hash = page_hash
        if page_name:
            rerun.page_name = page_name
        if fragment_id:
            rerun.fragment_id = fragment_id
            rerun.is_auto_rerun = True
        info = rerun.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url, info.is_embedded, info.color_scheme = self.url + "/", False, "light"
        return msg.SerializeToString()

    async def _full_run(self, payload: bytes, what: str) -> float:
        self._full_done.clear()
        self._in_full_run = True
        t0 = time.monotonic()
        await self._ws.send(payload)
        try:
            await asyncio.wait_for(self._full_done.wait(), self.timeout)
        except TimeoutError:
            raise TimeoutError(f"{what}: no full run finished within {self.timeout:.0f} s") from None
        return time.monotonic() - t0

    async def open(self, page: str = "", query: str = "") -> float:
        """The first page load (``page``: its URL path, "" for the default page)."""
        self.query = query
        return await self._full_run(self._message([], "", page_name=page), f"opening /{page}")

    async def click(self, label: str) -> float:
        """Click the button whose label contains ``label`` (a trigger value, sent once)."""
        widget = self.widget(label, kinds=("button",))
        state = WidgetState(id=widget.id, trigger_value=True)
        payload = self._message([*self._states(), state], self.page_hash)
        return await self._full_run(payload, f"the click on {label!r}")

    async def move_slider(self, label: str, steps: int = 1) -> float:
        """Move a slider by ``steps`` of its step (as an arrow key does), within its range."""
        widget = self.widget(label, kinds=("slider",))
        el = widget.element
        if widget.id in self.values:
            now = list(self.values[widget.id].double_array_value.data)
        else:
            now = list(el.value if el.set_value else el.default)
        new = [round(min(max(v + steps * el.step, el.min), el.max), 10) for v in now]  # as the browser rounds
        state = WidgetState(id=widget.id)
        state.double_array_value.data.extend(new)
        self.values[widget.id] = state
        return await self._full_run(self._message(self._states(), self.page_hash), f"the move of {label!r}")

    async def switch_page(self, name: str) -> float:
        """Switch to a page by its name in the navigation (the sidebar link): no widget values are sent."""
        if name not in self.pages:
            raise KeyError(f"no page {name!r} in the navigation: {sorted(self.pages)}")
        self.values = {}
        return await self._full_run(self._message([], self.pages[name]), f"the switch to {name}")

    def _states(self) -> list[WidgetState]:
        return list(self.values.values())

    def widget(self, label: str, kinds: tuple[str, ...]) -> Widget:
        for widget in self.last.widgets.values():
            if widget.kind in kinds and label in widget.label:
                return widget
        found = sorted(f"{w.kind} {w.label!r}" for w in self.last.widgets.values())
        raise KeyError(f"no {'/'.join(kinds)} labelled {label!r} on this page; it has {found}")

    def has_text(self, needle: str) -> bool:
        """Does the latest full run, or a fragment run since, show a text containing ``needle``?"""
        return any(needle in t for t in self.last.texts + self.current.texts)

    async def _poll(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._in_full_run:  # the page is running; its next full run re-announces the fragment
                continue
            await self._ws.send(self._message(self._states(), self.page_hash, fragment_id))

    # -- receiving --------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for payload in self._ws:
                if isinstance(payload, bytes):
                    self._receive(ForwardMsg.FromString(payload))
        except Exception as exc:  # the connection closed: a waiting run times out with its own message
            self.errors.append(f"websocket: {type(exc).__name__}: {exc}")

    def _receive(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
            if not msg.metadata.run.fragment_ids:  # a full run starts (asked for, or a fragment's st.rerun)
                for task in self._polls.values():  # the frontend drops its auto-reruns then
                    task.cancel()
                self._polls.clear()
                self.current = Run()
        elif kind == "navigation":
            self.pages = {p.page_name: p.page_script_hash for p in msg.navigation.app_pages}
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            ar = msg.auto_rerun
            if ar.fragment_id not in self._polls:
                self._polls[ar.fragment_id] = asyncio.ensure_future(self._poll(ar.fragment_id, ar.interval))
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                task = self._polls.pop(fragment_id, None)
                if task is not None:
                    task.cancel()
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            etype = element.WhichOneof("type")
            sub = getattr(element, etype)
            if getattr(sub, "id", "") and hasattr(sub, "label"):
                self.current.widgets[sub.id] = Widget(sub.id, etype, sub.label, sub)
            texts = _texts(etype, sub)
            self.current.texts += texts
            self.seen_texts += texts
        elif kind == "script_finished":
            if msg.script_finished in FULL_RUN_ENDS:  # a fragment run's texts stay in ``current`` until then
                self.last, self.current = self.current, Run()
                if self._in_full_run:
                    self._in_full_run = False
                    self._full_done.set()
