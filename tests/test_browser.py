"""Real-browser tests: Playwright drives Debian's Chromium against `streamlit run app.py`.

One server and one browser per module; every test opens its own browser context, which is a
separate Streamlit session, so tests do not share trained models or settings. Training-heavy tests
use a small generated world from the URL. Screenshots land in artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import seedlike
from browser_util import (
    choose_dataset,
    click,
    expect,
    expect_rerun,
    focus,
    fragment_runs,
    go_to,
    metric,
    plot_texts,
    runs_ended,
    screenshot,
    session,
    settle,
    sidebar_badges,
    slider,
    upload,
    wait_trained,
)

pytestmark = pytest.mark.browser

TINY = "?data=world&g_users=300&g_items=120&g_inter=6000"
TABLES = ("Users.csv", "Content.csv", "Interaction.csv")
HOSTILE = "<b>bold</b><script>alert(1)</script>"


def seed_tables(seed_dir: Path) -> dict[str, bytes]:
    """The notebook's three tables, byte for byte (BOM and CR-only line ends included)."""
    return {name: (seed_dir / name).read_bytes() for name in TABLES}


def write_tables(tables: dict[str, bytes], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in tables.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in TABLES]


def replace_cell(data: bytes, row: int, column: str, value: str) -> bytes:
    """Set one cell of a CR-separated CSV (row 1 = first data row), leaving every other byte alone."""
    lines = data.split(b"\r")
    col = lines[0].decode("utf-8-sig").split(",").index(column)
    cells = lines[row].split(b",")
    cells[col] = value.encode()
    lines[row] = b",".join(cells)
    return b"\r".join(lines)


def no_traceback(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def alerts(page, kind: str) -> list[str]:
    """Texts of the st.error / st.success / … boxes on the page (kind: Error, Success, Warning, Info)."""
    return page.get_by_test_id(f"stAlertContent{kind}").all_inner_texts()


def test_home_shows_the_title(server, browser):
    with session(browser, server) as page:
        assert page.get_by_role("heading", name="Multistage Ranking Lab").first.is_visible()
        no_traceback(page)


@pytest.mark.timeout(1200)  # three trainings on the sample world; each may take minutes on busy cores
def test_labels_then_train_stages_by_clicking_then_rank_shifts(server, browser):
    """The issue's walk-through on the bundled sample world, every step a click or a key press."""
    with session(browser, server) as page:
        assert "sample world" in page.get_by_test_id("stSidebar").inner_text()
        page.get_by_test_id("stPlotlyChart").filter(has_text="Ranking funnel").wait_for()
        screenshot(page, "flow-1-home")

        go_to(page, "Labels")
        before = metric(page, "Positive rate")
        thumb = slider(page, "Threshold")
        assert thumb.get_attribute("aria-valuetext") == "2.00"
        focus(page, thumb)
        with expect_rerun(page):
            for _ in range(4):
                page.keyboard.press("ArrowRight")
        page.wait_for_function("() => location.search.includes('threshold=2.2')")  # the URL is a lesson link
        expect(thumb).to_have_attribute("aria-valuetext", "2.20")
        moved = metric(page, "Positive rate")
        assert moved != before, "moving the threshold did not change the positive rate"
        screenshot(page, "flow-2-labels")
        focus(page, thumb)
        with expect_rerun(page):
            for _ in range(4):
                page.keyboard.press("ArrowLeft")
        page.wait_for_function("() => !location.search.includes('threshold')")  # back at the default
        expect(thumb).to_have_attribute("aria-valuetext", "2.00")
        assert metric(page, "Positive rate") == before

        go_to(page, "Stage 1 Candidates")
        click(page, page.get_by_role("button", name="Train Stage 1 · candidates"))
        assert wait_trained(page).startswith("Trained Stage 1 · candidates in ")
        page.get_by_test_id("stMetric").filter(has_text="Candidates per user").wait_for()
        screenshot(page, "flow-3-stage1")

        go_to(page, "Stage 2 GBDT")
        click(page, page.get_by_test_id("stForm").get_by_role("button", name="Train Stage 2 · XGBoost"))
        # only stage 2: stage 1 is still fresh, so the settings survived the page switches
        assert wait_trained(page).startswith("Trained Stage 2 · XGBoost in ")
        page.get_by_test_id("stMetric").filter(has_text="Trees used").wait_for()
        screenshot(page, "flow-4-stage2")

        go_to(page, "Stage 3 Neural")
        epochs = slider(page, "Epochs")  # 15 → 3 inside the form: no rerun until the submit, which uses it
        focus(page, epochs)
        for _ in range(12):
            page.keyboard.press("ArrowLeft")
        expect(epochs).to_have_attribute("aria-valuetext", "3")
        click(page, page.get_by_test_id("stForm").get_by_role("button", name="Train Stage 3 · neural"))
        assert wait_trained(page).startswith("Trained Stage 3 · neural in ")
        assert 1 <= int(metric(page, "Epochs run")) <= 3
        screenshot(page, "flow-5-stage3")
        assert sidebar_badges(page) == ["Stage 1 · candidates: trained", "Stage 2 · XGBoost: trained",
                                        "Stage 3 · neural: trained"]

        go_to(page, "Rank shifts")
        bump = page.get_by_test_id("stPlotlyChart").filter(has_text="How the feed changes stage by stage")
        bump.locator(".js-plotly-plot .xtick").first.wait_for()
        ticks = plot_texts(bump, ".xtick text")
        for stage in ("Stage 1", "Stage 2", "Stage 3"):
            assert any(t.startswith(stage) for t in ticks), (stage, ticks)
        assert bump.locator(".scatterlayer .trace").count() >= 3  # one line per item followed
        screenshot(page, "flow-6-rank-shifts")

        go_to(page, "Evaluation")
        page.get_by_test_id("stPlotlyChart").first.wait_for()
        assert "Oracle NDCG@10" in page.get_by_test_id("stMain").inner_text()
        screenshot(page, "flow-7-evaluation")
        no_traceback(page)


def test_changing_a_stage1_setting_marks_stages_stale_without_retraining(server, browser):
    with session(browser, server + TINY) as page:
        go_to(page, "Stage 2 GBDT")
        click(page, page.get_by_test_id("stForm").get_by_role("button", name="Train Stage 2 · XGBoost"))
        assert wait_trained(page).startswith("Trained Stage 1 · candidates, Stage 2 · XGBoost in ")
        go_to(page, "Stage 1 Candidates")
        assert sidebar_badges(page) == ["Stage 1 · candidates: trained", "Stage 2 · XGBoost: trained",
                                        "Stage 3 · neural: not trained"]

        seen = page.get_by_role("switch", name="Already-seen filter")
        seen_label = page.get_by_test_id("stCheckbox").filter(has_text="Already-seen filter").locator("label")
        assert seen.is_checked()
        click(page, seen_label, rerun=True)
        assert not seen.is_checked()
        stale = ["Stage 1 · candidates: stale", "Stage 2 · XGBoost: stale",
                 "Stage 3 · neural: not trained"]
        assert sidebar_badges(page) == stale
        assert page.get_by_role("button", name="Retrain Stage 1 · candidates").is_enabled()
        runs, polls = settle(page)
        page.wait_for_timeout(2500)  # a background job would show its progress bar and poll every second
        assert page.get_by_test_id("stProgress").count() == 0
        assert alerts(page, "Success") == []
        assert (runs_ended(page), fragment_runs(page)) == (runs, polls), "something reran: a job is polling"
        screenshot(page, "stale-stage1")

        go_to(page, "Stage 2 GBDT")  # the stale state is per session, not per page
        assert sidebar_badges(page) == stale
        assert page.get_by_test_id("stForm").get_by_role("button", name="Retrain Stage 2 · XGBoost").count() == 1

        go_to(page, "Stage 1 Candidates")  # undoing the change makes the trained stages fresh again
        click(page, seen_label, rerun=True)
        assert sidebar_badges(page)[:2] == ["Stage 1 · candidates: trained", "Stage 2 · XGBoost: trained"]
        no_traceback(page)


def test_sessions_are_isolated(server, browser, seed_dir, tmp_path):
    """Issue 5: models, settings and uploads of one browser session never leak into another."""
    tables = seed_tables(seed_dir)
    tables["Users.csv"] = replace_cell(tables["Users.csv"], 3, "region", "Mars")
    bad = write_tables(tables, tmp_path / "bad")

    with session(browser, server + TINY) as a, session(browser, server + TINY) as b:
        go_to(a, "Stage 1 Candidates")
        click(a, a.get_by_role("button", name="Train Stage 1 · candidates"))
        wait_trained(a)
        assert sidebar_badges(a)[0] == "Stage 1 · candidates: trained"

        go_to(b, "Stage 1 Candidates")
        assert "synthetic 300×120×6000" in b.get_by_test_id("stSidebar").inner_text()
        assert sidebar_badges(b) == ["Stage 1 · candidates: not trained", "Stage 2 · XGBoost: not trained",
                                     "Stage 3 · neural: not trained"]

        go_to(a, "Labels")
        focus(a, slider(a, "Threshold"))
        with expect_rerun(a):
            for _ in range(4):
                a.keyboard.press("ArrowRight")
        assert slider(a, "Threshold").get_attribute("aria-valuetext") == "2.20"
        go_to(b, "Labels")
        assert slider(b, "Threshold").get_attribute("aria-valuetext") == "2.00"
        assert "threshold" not in b.url

        go_to(b, "Home")
        choose_dataset(b, "Upload three CSVs")
        upload(b, bad)
        errors = "\n".join(alerts(b, "Error")) + b.get_by_test_id("stMain").inner_text()
        assert "The upload was not used" in errors
        assert re.search(r"Users\.csv, column 'region', row 3\b.*'Mars'", errors), errors
        no_traceback(b)
        screenshot(b, "isolation-b-bad-upload")

        go_to(a, "Home")  # A: same world, no upload error, its model kept (a threshold change only re-ranks)
        assert alerts(a, "Error") == []
        assert "synthetic 300×120×6000" in a.get_by_test_id("stSidebar").inner_text()
        assert sidebar_badges(a)[0] == "Stage 1 · candidates: trained"
        go_to(a, "Labels")
        assert slider(a, "Threshold").get_attribute("aria-valuetext") == "2.20"
        focus(a, slider(a, "Threshold"))
        with expect_rerun(a):
            for _ in range(4):
                a.keyboard.press("ArrowLeft")
        expect(slider(a, "Threshold")).to_have_attribute("aria-valuetext", "2.00")
        assert sidebar_badges(a)[0] == "Stage 1 · candidates: trained"
        no_traceback(a)


def test_bad_upload_explains_itself_and_a_fixed_upload_is_used(server, browser, seed_dir, tmp_path):
    tables = seed_tables(seed_dir)
    broken = dict(tables)
    broken["Interaction.csv"] = replace_cell(tables["Interaction.csv"], 5, "dwell_time", "twelve")

    with session(browser, server) as page:
        choose_dataset(page, "Upload three CSVs")
        upload(page, write_tables(broken, tmp_path / "broken"))
        text = page.get_by_test_id("stMain").inner_text()
        assert "The upload was not used" in text
        assert re.search(r"Interaction\.csv, column 'dwell_time', row 5\b.*'twelve'", text), text
        no_traceback(page)
        screenshot(page, "upload-broken")

        choose_dataset(page, "Bundled sample world")  # the app keeps working
        page.get_by_test_id("stPlotlyChart").filter(has_text="Ranking funnel").locator(".js-plotly-plot").wait_for()
        assert "sample world" in page.get_by_test_id("stSidebar").inner_text()
        assert alerts(page, "Error") == []

        # fix the file and upload again, as the error asks (same file names as the broken set)
        choose_dataset(page, "Upload three CSVs")
        upload(page, write_tables(tables, tmp_path / "fixed"))
        assert "Using your upload: 100 users, 100 items, 106 interactions" in "\n".join(alerts(page, "Success"))
        assert alerts(page, "Error") == []
        assert "your upload" in page.get_by_test_id("stSidebar").inner_text()
        no_traceback(page)


def trainable_seed_tables(seed_dir: Path) -> dict[str, bytes]:
    """The seed tables plus four made-up impressions per user: the seed's 1-2 per user cannot be split."""
    tables = seed_tables(seed_dir)
    rows = [f"{u},{101 + (u * 7 + j * 31) % 100},{(u + j) % 2},{(u * j) % 20 + 0.5},{int((u + j) % 5 == 0)},"
            f"{(u * j) % 3},{int((u + 2 * j) % 11 == 0)},2025-05-0{1 + j}T1{j}:00:00Z"
            for u in range(1, 101) for j in range(4)]
    tables["Interaction.csv"] += ("\r" + "\r".join(rows)).encode()
    return tables


def test_html_in_a_csv_cell_is_shown_as_text(server, browser, seed_dir, tmp_path):
    tables = trainable_seed_tables(seed_dir)
    # every publisher name carries markup, so whichever items reach the first user's bump chart (the one the
    # rank-shifts page opens on) show it in their hover labels
    content = tables["Content.csv"]
    for name in seedlike.PUBLISHERS:
        content = content.replace(f",{name},".encode(), f",{HOSTILE}{name},".encode())
    tables["Content.csv"] = content
    assert content.count(HOSTILE.encode()) == seedlike.N_ITEMS

    with session(browser, server) as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        choose_dataset(page, "Upload three CSVs")
        upload(page, write_tables(tables, tmp_path / "html"))
        expected = (f"Using your upload: {seedlike.N_USERS} users, {seedlike.N_ITEMS} items, "
                    f"{seedlike.N_INTERACTIONS + 4 * seedlike.N_USERS} interactions")
        assert expected in "\n".join(alerts(page, "Success"))

        # publishers are shown in the data grids (canvas) and in the bump chart's hover labels (SVG text)
        go_to(page, "Stage 2 GBDT")
        click(page, page.get_by_test_id("stForm").get_by_role("button", name="Train Stage 2 · XGBoost"))
        wait_trained(page)
        go_to(page, "Rank shifts")
        bump = page.get_by_test_id("stPlotlyChart").filter(has_text="How the feed changes stage by stage")
        plot = bump.locator(".js-plotly-plot")
        plot.locator(".scatterlayer .trace").first.wait_for()
        index = plot.evaluate("(gd, s) => gd.data.findIndex(t => (t.customdata || []).some("
                              "row => String(row[2]).includes('bold')))", "bold")
        assert index >= 0, "no item of the renamed publisher in this user's bump chart"
        plot.locator(".scatterlayer .trace").nth(index).locator(".points path").first.hover(force=True)
        hover = plot.locator(".hoverlayer .hovertext")
        hover.first.wait_for()
        shown = " ".join(plot_texts(plot, ".hoverlayer .hovertext text"))
        screenshot(page, "html-publisher-hover")
        assert HOSTILE in shown, shown
        assert page.locator("script", has_text="alert(1)").count() == 0
        assert dialogs == []
        no_traceback(page)


def test_double_click_on_train_starts_one_job(server, browser):
    with session(browser, server + TINY + "&s3_epochs=3") as page:
        click(page, page.get_by_role("button", name=re.compile(r"^Train all stages")), double=True)
        wait_trained(page, "Trained Stage 1 · candidates, Stage 2 · XGBoost, Stage 3 · neural in ")
        runs, polls = settle(page)  # after the last progress poll that was already on its way
        page.wait_for_timeout(2500)  # a second job would show a progress bar and poll every second here
        assert page.get_by_test_id("stProgress").count() == 0
        assert (runs_ended(page), fragment_runs(page)) == (runs, polls)
        assert len([a for a in alerts(page, "Success") if a.startswith("Trained")]) == 1
        assert sidebar_badges(page) == ["Stage 1 · candidates: trained", "Stage 2 · XGBoost: trained",
                                        "Stage 3 · neural: trained"]
        screenshot(page, "home-trained")
        no_traceback(page)


def test_url_settings_survive_a_page_switch(server, browser):
    with session(browser, server + "/?threshold=2.5") as page:
        go_to(page, "Labels")
        assert slider(page, "Threshold").get_attribute("aria-valuetext") == "2.50"


def test_reloading_the_url_keeps_the_generated_world(server, browser):
    with session(browser, server + TINY) as page:
        assert "synthetic 300×120×6000" in page.get_by_test_id("stSidebar").inner_text()
        rewritten = page.url
    with session(browser, rewritten) as page:
        assert "synthetic 300×120×6000" in page.get_by_test_id("stSidebar").inner_text(), rewritten
