"""Cascade and memory rows from `gcop grid` to the leaderboard: the grid's rows, the strong
model's $ and the escalation rate per row, one curve per cascade on the plot, and the page in a
real browser."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from gcop.results.grid import CascadePlan, GridConfigError, plan_rows, run_grid
from gcop.results.leaderboard import build_leaderboard, cascade_curves, to_markdown, write_leaderboard
from tests.conftest import SHARED_DATA, needs_shared_data

THRESHOLDS = (0.5, 0.9, 1.01)


def test_the_grid_plans_one_row_per_threshold_and_guided_cascades():
    rows = plan_rows("gcop/noisy", guides=[("g", "gcop/reference")],
                     cascade=CascadePlan(strong="gcop/reference", thresholds=(0.5, 1.0), memory=True))
    assert [r.recipe for r in rows] == ["core", "guided", "cascade", "guided-cascade", "memory",
                                        "cascade", "guided-cascade", "memory"]
    assert rows[3].mode == "guided_cascade" and rows[3].guide == "g" and rows[3].options["cascade_threshold"] == 0.5
    assert len({r.name for r in rows}) == len(rows)
    with pytest.raises(GridConfigError, match="the core itself"):
        plan_rows("gcop/noisy", cascade=CascadePlan(strong="gcop/noisy"))
    with pytest.raises(GridConfigError, match="once"):
        plan_rows("gcop/noisy", cascade=CascadePlan(strong="gcop/reference", thresholds=(1.0, 1.0)))


@pytest.fixture(scope="module")
def cascade_board(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GCOP_OFFLINE_PRICE", "1.00,5.00")
    log_dir = tmp_path_factory.mktemp("cascade-grid")
    result = run_grid("gsm8k", "gcop/noisy", cascade=CascadePlan(strong="gcop/reference", thresholds=THRESHOLDS, memory=True),
                      log_dir=str(log_dir), limit=20, task_args={"data_dir": str(SHARED_DATA)}, display="none")
    mp.undo()
    assert result.success
    return build_leaderboard(str(log_dir)), log_dir


@needs_shared_data
def test_cascade_rows_carry_the_strong_cost_and_the_escalation_rate(cascade_board):
    board, _ = cascade_board
    rows = {(r.recipe, r.cascade.get("threshold")): r for r in board.rows}
    assert len(rows) == 1 + 2 * len(THRESHOLDS)
    alone = rows[("core", None)]
    never, always = rows[("cascade", 0.5)], rows[("cascade", 1.01)]
    # threshold above 1: every query escalates and the strong model (the reference) answers all
    assert always.escalation_rate == 1.0 and always.accuracy == 1.0
    # the cheap core's own answers score what the core alone scores (same seeds, same draws)
    assert always.cheap_accuracy == pytest.approx(rows[("cascade", 0.9)].cheap_accuracy)
    assert never.escalation_rate < rows[("cascade", 0.9)].escalation_rate < 1.0
    for row in board.rows:
        assert row.cost_per_1k["total"] == pytest.approx(row.cost_per_1k["core"] + row.cost_per_1k["strong"] + row.cost_per_1k["guide"])
        if row.recipe == "cascade":
            assert (row.cost_per_1k["strong"] > 0) == (row.escalation_rate > 0)
    assert alone.cost_per_1k["strong"] == 0.0 and alone.escalation_rate is None
    assert rows[("memory", 1.01)].memory_size == 20  # every escalated query stored a strategy
    markdown = to_markdown(board)
    assert "$/1k strong" in markdown and "escalated (cheap acc.)" in markdown
    assert len(cascade_curves(board.rows)) == 2  # the cascade and the memory cascade


@needs_shared_data
def test_each_cascade_is_a_curve_on_the_plot(cascade_board, tmp_path):
    board, _ = cascade_board
    written = write_leaderboard(board, tmp_path, use_matplotlib=False)
    svg = ET.fromstring(written["svg"].read_text())
    ns = "{http://www.w3.org/2000/svg}"
    curves = [p for p in svg.iter(f"{ns}polyline") if p.get("class") == "cascade-curve"]
    assert len(curves) == 2
    for curve in curves:
        xs = [float(point.split(",")[0]) for point in curve.get("points").split()]
        assert len(xs) == len(THRESHOLDS) and xs == sorted(xs)  # joined in cost order


@needs_shared_data
def test_the_page_shows_the_cascade_curve_and_rank_column_in_a_browser(cascade_board, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no chromium installed (apt-get install chromium)")
    board, _ = cascade_board
    written = write_leaderboard(board, tmp_path, use_matplotlib=False)
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", written["html"].as_uri()],
                         capture_output=True, text=True, timeout=90).stdout
    image = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', dom)
    assert image, dom[:1500]
    svg = base64.b64decode(image.group(1)).decode()
    assert svg.count('class="cascade-curve"') == 2
    assert "rank (95% set)" in dom
    ranks = re.findall(r'<td class="num" data-sort="[0-9.]*">([0-9]+(?:–[0-9]+)?)</td>', dom)
    assert len(ranks) >= len(board.rows)
