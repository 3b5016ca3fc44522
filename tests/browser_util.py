"""Start `streamlit run app.py` on a free loopback port and drive it with Playwright + Debian's Chromium.

Waiting is the hard part of browser tests. The DOM's run-state marker (``data-test-script-state``)
can skip "running" entirely when a rerun is fast (React batches the two updates), so each page
also counts the ``script_finished`` messages the server sends over the websocket: ``expect_rerun``
waits for the rerun an action caused instead of sleeping and hoping.
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("LAB_ARTIFACTS", ROOT / "artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
VIEWPORT = {"width": 1400, "height": 900}
ACTION_TIMEOUT = 90_000  # ms; generous because the 2 cores are often shared with other test runs
# ms; training stages 1-3 on the sample world takes ~25 s on an idle 2-core box, but stage 3 alone (TensorFlow
# import and graph tracing) took over 180 s with the 2 cores busy: this is a deadline, not a wait.
TRAIN_TIMEOUT = 480_000

def require_browser() -> None:
    """Skip locally when Chromium or Playwright is missing; fail in CI (LAB_REQUIRE_BROWSER=1)."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (requirements-dev.txt)")
    if missing:
        msg = "browser test needs " + " and ".join(missing)
        if os.environ.get("LAB_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@contextmanager
def streamlit_server(env: dict[str, str] | None = None, timeout: float = 90.0):
    """Yield the base URL of a fresh app server (its output in artifacts/server-<port>.log); stop it afterwards."""
    from benchmarks.procstats import free_port, serve

    port = free_port()
    with serve(ARTIFACTS / f"server-{port}.log", env=env, timeout=timeout, port=port) as url:
        yield url


@contextmanager
def chromium():
    """A headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def session(browser, url: str | None = None):
    """A new browser context (its own cookies, so its own Streamlit session) with one page, optionally opened."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT)
    page = context.new_page()
    # new elements born inert are watched only when tracing: Plotly adds thousands of nodes per chart
    page.add_init_script(_WATCH_INERT.replace("CHILDREN", "true" if os.environ.get("LAB_TRACE_INERT") else "false"))
    count_runs(page)
    try:
        if url is not None:
            open_url(page, url)
        yield page
    except BaseException:
        dump_failure(page)
        raise
    else:
        # .streamlit/config.toml turns the forward-message cache off: a reference to an element the
        # browser had already dropped is fatal there (websocket DISCONNECTED_FOREVER, issue 9)
        assert _RUNS[id(page)][2] == 0, "the server sent cached-element references: is the cache back on?"
        if os.environ.get("LAB_TRACE_INERT"):
            (ARTIFACTS / f"trace-{time.strftime('%H%M%S')}.txt").write_text(
                "\n".join(page.evaluate("() => window.__labLog || []")))
    finally:
        _RUNS.pop(id(page), None)
        context.close()


_WATCH_INERT = """(() => {
    const log = window.__labLog = [];
    const t0 = performance.now();
    const name = e => `${e.tagName.toLowerCase()}[${e.getAttribute('data-testid') || e.getAttribute('role') || ''}]`;
    new MutationObserver(records => {
        for (const r of records) {
            for (const n of r.addedNodes || []) {
                const born = n.nodeType === 1 && (n.matches('[inert]') ? n : n.querySelector('[inert]'));
                if (born) log.push(`${(performance.now() - t0).toFixed(0)}ms ${name(born)} added inert`);
            }
            if (r.type !== 'attributes') continue;
            const e = r.target;
            const v = e.getAttribute(r.attributeName);
            if (r.attributeName === 'inert' || e.getAttribute('data-testid') === 'stApp')
                log.push(`${(performance.now() - t0).toFixed(0)}ms ${name(e)} ${r.attributeName}=${v}`);
        }
        if (log.length > 400) log.splice(0, log.length - 400);
    }).observe(document, {subtree: true, attributes: true, childList: CHILDREN,
                          attributeFilter: ['inert', 'data-test-script-state', 'data-test-connection-state']});
})()"""

_INERT_REPORT = """() => {
    const state = document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state');
    const inert = Array.from(document.querySelectorAll('[inert]')).map(e =>
        `${e.tagName.toLowerCase()}[data-testid=${e.getAttribute('data-testid')}].${e.className}`.slice(0, 200));
    const open = Array.from(document.querySelectorAll(
        '[role=dialog], [data-testid=stPopoverBody], [data-testid=stToast], [data-testid=stModal],'
        + ' [data-testid=stConnectionStatus], [data-testid=stStatusWidget]')).map(e =>
        `${e.getAttribute('data-testid') || e.getAttribute('role')}: ${e.innerText.slice(0, 120)}`);
    return {scriptState: state, inert, open, url: location.href, log: window.__labLog};
}"""


def dump_failure(page) -> None:
    """On a failing test, keep what the page looked like: a screenshot, the DOM and what was inert."""
    import json

    stamp = time.strftime("%H%M%S")
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"failure-{stamp}.html").write_text(page.content())
        (ARTIFACTS / f"failure-{stamp}.json").write_text(json.dumps(page.evaluate(_INERT_REPORT), indent=1))
        page.screenshot(path=str(ARTIFACTS / f"failure-{stamp}.png"))
        print(f"failure artifacts: {ARTIFACTS}/failure-{stamp}.*", file=sys.stderr)
    except Exception as exc:  # the page may be gone; the original error matters more
        print(f"could not save failure artifacts: {exc}", file=sys.stderr)


_RUNS: dict[int, list[int]] = {}  # id(page) -> [full runs finished, fragment runs finished, cache references]


def count_runs(page) -> None:
    """Count this page's finished script runs: full runs and fragment runs (e.g. a progress poll)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    full = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)
    counter = _RUNS.setdefault(id(page), [0, 0, 0])

    def on_frame(payload) -> None:
        if isinstance(payload, bytes | bytearray):
            msg = ForwardMsg.FromString(bytes(payload))
            if msg.WhichOneof("type") == "ref_hash":
                counter[2] += 1
            elif msg.WhichOneof("type") == "script_finished":
                if msg.script_finished in full:
                    counter[0] += 1
                elif msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                    counter[1] += 1

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))




def open_url(page, url: str) -> None:
    """Load a URL (a new Streamlit session) and wait for its first run to finish."""
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=ACTION_TIMEOUT)
    page.locator("h1").first.wait_for()


def expect(target):
    """Playwright's retrying assertions (imported lazily so a missing package skips instead of erroring)."""
    from playwright.sync_api import expect as _expect

    _expect.set_options(timeout=ACTION_TIMEOUT)
    return _expect(target)


def runs_ended(page) -> int:
    """Full script runs this page has seen finish (pages opened with ``session`` only)."""
    page.wait_for_timeout(1)  # let Playwright deliver pending websocket events
    return _RUNS[id(page)][0]


def fragment_runs(page) -> int:
    """Fragment runs this page has seen finish (the training progress panel polls once a second)."""
    page.wait_for_timeout(1)
    return _RUNS[id(page)][1]


def settle(page, quiet_ms: int = 1500, timeout: float = ACTION_TIMEOUT) -> tuple[int, int]:
    """Wait until no script run (full or fragment) has finished for ``quiet_ms`` and the app is idle.

    When a training ends, the progress fragment's 1-second timer may already have sent one more fragment
    rerun; it finishes *after* the full rerun that removed the fragment. Tests that assert "nothing
    reruns any more" take their baseline after that straggler. ``quiet_ms`` exceeds the poll period.
    Returns (full runs, fragment runs).
    """
    deadline = time.monotonic() + timeout / 1000
    seen, since = None, time.monotonic()
    while True:
        page.wait_for_selector(IDLE, timeout=timeout)
        now = (runs_ended(page), fragment_runs(page))
        if now != seen:
            seen, since = now, time.monotonic()
        elif (time.monotonic() - since) * 1000 >= quiet_ms:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"the app kept rerunning for {timeout / 1000:.0f} s (runs: {now})")
        page.wait_for_timeout(100)


@contextmanager
def expect_rerun(page, timeout: float = ACTION_TIMEOUT):
    """Wrap an action that makes Streamlit rerun; afterwards, wait for that rerun to finish."""
    before = runs_ended(page)
    yield
    deadline = time.monotonic() + timeout / 1000
    while runs_ended(page) <= before:
        if time.monotonic() > deadline:
            raise AssertionError(f"no script run finished within {timeout / 1000:.0f} s of the action")
        page.wait_for_timeout(50)
    page.wait_for_selector(IDLE, timeout=timeout)


# Why a click could not land on the element now ('' when it can). Streamlit makes everything outside an
# open popover, menu or dialog `inert` (the page behind it then ignores the mouse), disables the page's
# widgets and links while the websocket is not connected, and replaces elements during a script run.
_NOT_CLICKABLE = """el => {
    const app = document.querySelector('[data-testid=stApp]');
    if (!app) return 'the app is not rendered';
    const conn = app.getAttribute('data-test-connection-state');
    if (conn && conn !== 'CONNECTED') return `the websocket is ${conn}`;
    if (app.getAttribute('data-test-script-state') === 'running') return 'the script is running';
    const inert = el.closest('[inert]');
    if (inert) return `it is inside an inert <${inert.tagName.toLowerCase()}`
        + ` data-testid=${inert.getAttribute('data-testid')} class="${String(inert.className).slice(0, 80)}">`;
    if (el.matches(':disabled') || el.closest('[aria-disabled=true]')) return 'it is disabled';
    if (!el.getClientRects().length) return 'it is not visible';
    return '';
}"""
# Floating layers that make the rest of the page inert while open; Escape closes each of them.
OVERLAYS = ("[data-testid=stPopoverBody], [role=dialog], [role=listbox], [role=menu],"
            " [data-testid=stSelectboxVirtualDropdown]")


def wait_clickable(page, target, timeout: float = ACTION_TIMEOUT, pointer: bool = True) -> None:
    """Wait until a click on ``target`` will land: app connected and idle, no popover open, target not inert.

    Retries the *wait*, never the click: each round closes an open popover/menu with Escape (unless the
    target is inside it), checks the conditions above in the page, then (``pointer``) lets Playwright check
    visibility, stability and that the element receives the mouse (``trial`` clicks do not click).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    deadline = time.monotonic() + timeout / 1000
    why = "not checked yet"
    while True:
        overlays = page.locator(OVERLAYS).filter(visible=True)
        if overlays.count() and not target.evaluate(f"el => !!el.closest({OVERLAYS!r})"):
            page.keyboard.press("Escape")
            why = "a popover/menu was open (closed it with Escape)"
        else:
            try:
                why = target.evaluate(_NOT_CLICKABLE, timeout=5_000)
                if not why:
                    if pointer:
                        target.click(trial=True, timeout=5_000)
                    return
            except PlaywrightTimeoutError as exc:
                why = str(exc).splitlines()[0]
        if time.monotonic() > deadline:  # session() saves the screenshot, DOM and inert trace
            raise AssertionError(f"could not click {target} within {timeout / 1000:.0f} s: {why}")
        page.wait_for_timeout(100)  # poll interval of this wait, not a guess at how long something takes


def click(page, target, *, double: bool = False, rerun: bool = False, timeout: float = ACTION_TIMEOUT) -> None:
    """Click (or double-click) ``target`` once it can take the click; see ``wait_clickable``.

    ``rerun``: the click makes the script rerun; wait for that rerun to finish (counted from after the wait).
    """
    wait_clickable(page, target, timeout)
    with expect_rerun(page, timeout) if rerun else nullcontext():
        if double:
            target.dblclick(timeout=timeout)
        else:
            target.click(timeout=timeout)


def focus(page, target, timeout: float = ACTION_TIMEOUT) -> None:
    """Give ``target`` the keyboard focus once it can take it (an inert element silently refuses focus)."""
    wait_clickable(page, target, timeout, pointer=False)
    target.focus(timeout=timeout)
    expect(target).to_be_focused()


def go_to(page, link: str) -> None:
    """Switch page with the sidebar link (same session, unlike page.goto) and wait for the new page.

    ``link`` is the link's text ('Home', 'Labels', …), not its icon.
    """
    label = page.get_by_test_id("stMarkdownContainer").get_by_text(link, exact=True)
    target = page.get_by_test_id("stSidebarNavLink").filter(has=label)
    wait_clickable(page, target)  # before counting runs, so a run that ends meanwhile is not taken for ours
    with expect_rerun(page):
        target.click()
    expect(target).to_have_attribute("aria-current", "page")
    page.wait_for_selector(IDLE, timeout=ACTION_TIMEOUT)
    page.locator("h1").first.wait_for()


def sidebar_badges(page) -> list[str]:
    """The stage badges in the sidebar, e.g. ['Stage 1 · candidates: trained', …]."""
    text = page.get_by_test_id("stSidebar").inner_text()
    return re.findall(r"Stage \d · [a-zA-Z]+: [^\n]+", text)


def metric(page, label: str) -> str:
    """The value shown by the st.metric with this label."""
    box = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label))
    return box.get_by_test_id("stMetricValue").inner_text()


def slider(page, label: str):
    """The keyboard-focusable thumb (a visually hidden range input) of the slider with this label."""
    label_el = page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stSlider").filter(has=label_el).locator("input[type=range]")


def choose_dataset(page, option: str) -> None:
    """Pick 'Bundled sample world', 'Generate a world' or 'Upload three CSVs' on the home page."""
    click(page, page.get_by_test_id("stRadioGroup").get_by_text(option, exact=True), rerun=True)


def upload(page, paths: list[Path]) -> None:
    """Put files into the (single) file uploader and wait for the rerun that validates them."""
    with expect_rerun(page):
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(p) for p in paths])


def wait_trained(page, what: str = "Trained ", timeout: float = TRAIN_TIMEOUT) -> str:
    """Wait for the training success message (or fail on a training error); return its text."""
    done = page.get_by_test_id("stAlertContentSuccess").filter(has_text=what)
    failed = page.get_by_test_id("stAlertContentError").filter(has_text="Training stopped")
    done.or_(failed).first.wait_for(timeout=timeout)
    if failed.count():
        raise AssertionError(failed.first.inner_text())
    page.wait_for_selector(IDLE, timeout=timeout)
    return done.first.inner_text()


def plot_texts(chart, selector: str) -> list[str]:
    """Text of SVG elements inside a Plotly chart (e.g. '.xtick text'); tspans are joined with spaces."""
    return chart.locator(selector).evaluate_all(
        "els => els.map(e => e.querySelectorAll('tspan').length"
        " ? Array.from(e.querySelectorAll('tspan')).map(t => t.textContent).join(' ') : e.textContent)")


def screenshot(page, name: str) -> Path:
    """Save a PNG of the whole page (Streamlit scrolls inside stMain, so grow the viewport) under artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size or VIEWPORT
    height = page.evaluate("() => (document.querySelector('[data-testid=stMain]') || document.body).scrollHeight")
    tall = min(max(int(height), size["height"]), 12_000)
    if tall > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": tall})
        page.wait_for_timeout(600)  # Plotly and the data grids re-lay out on resize
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        if tall > size["height"]:
            page.set_viewport_size(size)
    return path
