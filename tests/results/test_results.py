"""gcop grid / leaderboard / regress / executability on real Inspect logs made offline here
(mockllm with scripted outputs and explicit usage, gcop/reference, gcop/replay), checked against
numbers worked out by hand for those logs."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from inspect_ai import eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelCost, ModelInfo, get_model, get_model_info, set_model_cost, set_model_info

from gcop.cli import main as gcop_main
from gcop.evals.gsm8k import gsm8k
from gcop.results.executability import estimate, write_replay
from gcop.results.grid import GridConfigError, plan_rows, run_grid
from gcop.results.leaderboard import build_leaderboard, plot_svg, write_leaderboard
from gcop.results.logs import LogError, read_run
from gcop.results.regress import ComparisonRefused, compare_logs
from gcop.stats import wilson_interval
from tests.conftest import REPO_ROOT, SHARED_DATA, mock_output, needs_shared_data

DATA = str(SHARED_DATA)
N = 10  # problems per run

# $ per million tokens (input, output) for the scripted models.
PRICES = {"mockllm/core-a": (1.0, 2.0), "mockllm/core-b": (3.0, 15.0), "mockllm/guide-g": (0.5, 1.0)}


def _register_prices() -> None:
    for model, (inp, out) in PRICES.items():
        if get_model_info(model) is None:
            set_model_info(model, ModelInfo(organization="mockllm"))
        set_model_cost(model, ModelCost(input=inp, output=out, input_cache_write=inp, input_cache_read=inp))


def _problems(n: int = N, data_dir: str = DATA):
    return list(gsm8k(split="test", mode="core", data_dir=data_dir).dataset)[:n]


def _which(problems, messages) -> int:
    """Index of the problem a prompt is about (its question is in the user message)."""
    text = "\n".join(m.text for m in messages if m.role == "user")
    return next(i for i, p in enumerate(problems) if p.input in text)


def scripted_core(name, problems, correct, input_tokens, output_tokens=10):
    """A core that answers problem i right iff i is in ``correct`` (or ``correct(i, prompt)``)."""

    def answer(messages, *_):
        i = _which(problems, messages)
        prompt = "\n".join(m.text for m in messages if m.role == "user")
        right = correct(i, prompt) if callable(correct) else i in correct
        value = problems[i].target if right else "-12345"
        return mock_output(f"Working... \\boxed{{{value}}}", model=name, input_tokens=input_tokens, output_tokens=output_tokens)

    return get_model(name, custom_outputs=answer, memoize=False)


def scripted_guide(problems, leak=(0,), invalid=(N - 1,)):
    def strategy(messages, *_):
        i = _which(problems, messages)
        if i in invalid:
            text = "I would rather not use tags."
        elif i in leak:
            text = f"<strategy>The result is {problems[i].target}.</strategy>"
        else:
            text = "<strategy>Compute step by step, then check.</strategy>"
        return mock_output(text, model="mockllm/guide-g", input_tokens=40, output_tokens=20)

    return get_model("mockllm/guide-g", custom_outputs=strategy, memoize=False)


def _run(task, log_dir, model, **kwargs):
    [log] = eval(task, model=model, display="none", log_dir=str(log_dir), **kwargs)
    assert log.status == "success", log.error
    return log.location


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """The logs every test reads. Hand-worked values (10 GSM8K test problems, $ per 1,000):

    A  core-a alone            5/10 right   in 100, out 10 -> (100*1 + 10*2)/1e6 * 1000 = $0.12
    B  core-a + guide-g        9/10 right   guide 40/20 -> $0.04; core 150/10 -> $0.17; total $0.21
                               strategy valid 9/10 (problem 9 invalid), leaked 1/9 (problem 0)
    C  core-b alone (ref.)    10/10 right   in 100, out 10 -> (300 + 150)/1e6 * 1000 = $0.45
    D  core-a + ICL            6/10 right   in 400, out 10 -> $0.42 (dominated by B)
    E  core-a alone, same as A but from a copy of the data without its last problem (another
       data revision: revisions are content hashes, so an unchanged copy would be the same one)
    """
    _register_prices()
    root = tmp_path_factory.mktemp("results")
    board = root / "board"
    problems = _problems()
    out = {"root": root, "board": board, "problems": problems}
    out["A"] = _run(gsm8k(split="test", mode="core", data_dir=DATA), board,
                    scripted_core("mockllm/core-a", problems, range(5), 100), limit=N)
    out["B"] = _run(gsm8k(split="test", mode="guided", data_dir=DATA), board,
                    scripted_core("mockllm/core-a", problems, range(9), 150),
                    model_roles={"guide": scripted_guide(problems)}, limit=N)
    out["C"] = _run(gsm8k(split="test", mode="core", data_dir=DATA), board,
                    scripted_core("mockllm/core-b", problems, range(10), 100), limit=N)
    out["D"] = _run(gsm8k(split="test", mode="icl", data_dir=DATA), board,
                    scripted_core("mockllm/core-a", problems, range(6), 400), limit=N)
    copy = root / "data-copy"
    shutil.copytree(SHARED_DATA / "gsm8k", copy / "gsm8k")
    test_file = copy / "gsm8k" / "test.jsonl"
    os.chmod(test_file, 0o644)
    lines = test_file.read_text().splitlines(keepends=True)
    test_file.write_text("".join(lines[:-1]))  # the last problem dropped
    out["E"] = _run(gsm8k(split="test", mode="core", data_dir=str(copy)), board,
                    scripted_core("mockllm/core-a", _problems(N, str(copy)), range(5), 100), limit=N)
    # For the gate: B again with the same script (equal), a planted regression, a shorter run.
    out["B2"] = _run(gsm8k(split="test", mode="guided", data_dir=DATA), root / "b2",
                     scripted_core("mockllm/core-a", problems, range(9), 150),
                     model_roles={"guide": scripted_guide(problems)}, limit=N)
    out["R"] = _run(gsm8k(split="test", mode="guided", data_dir=DATA), root / "regressed",
                    scripted_core("mockllm/core-a", problems, [0], 150),
                    model_roles={"guide": scripted_guide(problems)}, limit=N)
    out["U"] = _run(gsm8k(split="test", mode="core", data_dir=DATA), root / "unpriced",
                    scripted_core("mockllm/model", problems[:3], range(3), 100), limit=3)
    out["B8"] = _run(gsm8k(split="test", mode="guided", data_dir=DATA), root / "short",
                     scripted_core("mockllm/core-a", problems, range(9), 150),
                     model_roles={"guide": scripted_guide(problems)}, limit=8)
    return out


# --------------------------------------------------------------------------- leaderboard


def _row(board, core, recipe, variant_of=None):
    rows = [r for r in board.rows if r.core == core and r.recipe == recipe]
    if variant_of is not None:
        rows = [r for r in rows if r.log == variant_of]
    assert len(rows) == 1, [(r.core, r.recipe, r.log) for r in board.rows]
    return rows[0]


def _path(location: str) -> str:
    return location.removeprefix("file://")


def _row_of(board, location):
    [row] = [r for r in board.rows if os.path.abspath(r.log) == _path(location)]
    return row


@needs_shared_data
def test_leaderboard_numbers_match_hand_computation(logs):
    board = build_leaderboard(logs["board"])
    assert len(board.rows) == 5
    a = _row_of(board, logs["A"])
    b = _row(board, "mockllm/core-a", "guided")
    c = _row(board, "mockllm/core-b", "core")
    d = _row(board, "mockllm/core-a", "icl")
    e = _row_of(board, logs["E"])

    assert (a.n, a.correct, a.accuracy) == (10, 5, 0.5)
    assert a.accuracy_ci95 == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert a.cost_per_1k == pytest.approx({"guide": 0.0, "core": 0.12, "strong": 0.0, "total": 0.12})
    assert a.guide is None and a.strategy_validity is None and a.leak_rate is None

    assert (b.n, b.correct) == (10, 9) and b.guide == "mockllm/guide-g"
    assert b.cost_per_1k == pytest.approx({"guide": 0.04, "core": 0.17, "strong": 0.0, "total": 0.21})
    assert b.tokens_per_problem["guide"] == {"input_tokens": 40, "output_tokens": 20, "total_tokens": 60}
    assert b.tokens_per_problem["core"]["input_tokens"] == 150 and b.tokens_per_problem["core"]["output_tokens"] == 10
    assert b.strategy_validity == pytest.approx(0.9) and b.leak_rate == pytest.approx(1 / 9)

    assert c.accuracy == 1.0 and c.cost_per_1k["total"] == pytest.approx(0.45)
    assert d.accuracy == 0.6 and d.cost_per_1k["total"] == pytest.approx(0.42)

    # A, B and C are the frontier of their variant; D is dominated by B; E is alone in its variant.
    assert (a.pareto, b.pareto, c.pareto, d.pareto, e.pareto) == (True, True, True, False, True)
    # Different data revisions: marked, never pooled, and said so.
    assert a.variant and e.variant and a.variant != e.variant and a.variant == b.variant == c.variant == d.variant
    assert e.data_revision != a.data_revision
    assert any("different data revisions" in w for w in board.warnings)


@needs_shared_data
def test_rows_carry_rank_sets_and_pareto_probabilities(logs):
    """A, B, C, D share the 10 problems: paired rank-sets among the four. C (10/10) and B (9/10)
    differ on one problem: both may be first. E is alone in its variant: rank 1. U ran 3 problems:
    not paired with the others, said so."""
    board = build_leaderboard([logs["board"], logs["root"] / "unpriced"])
    a, b, c, d = (_row_of(board, logs[k]) for k in "ABCD")
    e, u = _row_of(board, logs["E"]), _row_of(board, logs["U"])
    assert c.rank_low == 1 and b.rank_low == 1 and (b.rank_high, c.rank_high) >= (2, 2)
    assert a.rank_high == 4 and d.rank_high >= 3 and all(r.rank_low <= r.rank_high for r in (a, b, c, d))
    assert (e.rank_low, e.rank_high) == (1, 1)
    assert u.rank_low is None and u.pareto_probability is None
    assert any("not ranked with the others" in w and "3 problems" in w for w in board.warnings)
    # D (6/10 at $0.42) is dominated by B (9/10 at $0.21) in almost every draw; the cheapest row A always leads
    assert a.pareto_probability == 1.0 and d.pareto_probability < 0.1 < b.pareto_probability
    exported = {r["log"]: r for r in board.to_dict()["rows"]}
    assert exported[c.log]["rank_set"] == f"1–{c.rank_high}" and "problem_scores" not in exported[c.log]
    assert "rank_set" in board.to_dict()["definitions"]


@needs_shared_data
def test_leaderboard_files(logs, tmp_path):
    board = build_leaderboard(logs["board"])
    written = write_leaderboard(board, tmp_path / "out")
    for name in ("md", "json", "html", "svg"):
        assert written[name].is_file()
    data = json.loads(written["json"].read_text())
    assert len(data["rows"]) == 5 and data["warnings"] and data["variants"]
    guided = next(r for r in data["rows"] if r["recipe"] == "guided")
    assert guided["cost_per_1k"]["total"] == pytest.approx(0.21) and guided["accuracy_ci95"] == pytest.approx([0.5958, 0.9821], abs=1e-4)

    md = written["md"].read_text()
    assert md.count("\n| gsm8k") == 5 and "90.0% [59.6, 98.2]" in md and "$0.21" in md and "[v1]" in md and "[v2]" in md

    html = written["html"].read_text()
    assert html.count("<tr>") + html.count('<tr class="pareto">') == 6  # header + 5 rows
    for key in ("A", "B", "C", "D", "E"):
        assert _path(logs[key]) in html
    assert "function sortBy" in html and "addEventListener('click'" in html
    assert 'src="data:image/svg+xml;base64,' in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from outside"


@needs_shared_data
def test_unpriced_model_has_unknown_cost_not_zero(logs, tmp_path):
    board = build_leaderboard(logs["root"] / "unpriced")
    [row] = board.rows
    # no guide ran: its $0 is known; the core's $ is not
    assert row.accuracy == 1.0 and row.cost_per_1k == {"guide": 0.0, "core": None, "strong": 0.0, "total": None}
    assert any("no price" in w for w in board.warnings)
    written = write_leaderboard(board, tmp_path, use_matplotlib=False)
    assert "svg" not in written and "| $/1k" in written["md"].read_text() and "| $0 | — | — |" in written["md"].read_text()
    with pytest.raises(ComparisonRefused, match="no price"):
        compare_logs(logs["U"], logs["U"], max_cost_increase=10)
    assert compare_logs(logs["U"], logs["U"]).passed  # without a cost limit the accuracy gate still runs


@needs_shared_data
def test_prompt_version_change_is_a_separate_variant(logs):
    from dataclasses import replace

    from gcop.results.leaderboard import _assign_variants

    board = build_leaderboard([logs["A"], logs["B"]])
    a, b = sorted(board.rows, key=lambda r: r.recipe)
    b_new = replace(b, guide_prompt_version="guide-v2", log="other.eval")
    warnings: list[str] = []
    variants = _assign_variants([a, b, b_new], warnings)
    # same data and core prompt: one panel (no v marker); the guided rows are told apart by g1/g2
    assert a.variant == b.variant == b_new.variant == "" and a.guide_variant == ""
    assert (b.guide_variant, b_new.guide_variant) == ("g1", "g2") and b.marker == "g1" and "[g2]" in b_new.label
    assert [v["guide_prompt_versions"] for v in variants.values()] == [["guide-v1"], ["guide-v2"]] and warnings


def test_ci_gate_example_uses_real_options():
    import shlex

    import yaml

    from gcop.cli import build_parser

    workflow = yaml.safe_load((REPO_ROOT / "examples" / "ci-gate.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    gate = next(s["run"] for s in steps if "gcop regress" in s.get("run", ""))
    command = gate.split("gcop regress", 1)[1].replace("\\\n", " ")
    env = {k: str(v) for k, v in workflow["env"].items()}
    argv = ["regress"] + [env.get(a[1:], "x") if a.startswith("$") else a for a in shlex.split(command)]
    args = build_parser().parse_args(argv)
    assert args.max_cost_increase is not None and args.json


@needs_shared_data
def test_plot_is_valid_svg_without_matplotlib(logs, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: the SVG is written by hand
    board = build_leaderboard(logs["board"])
    written = write_leaderboard(board, tmp_path)
    assert "png" not in written
    svg = ET.fromstring(written["svg"].read_text())
    ns = "{http://www.w3.org/2000/svg}"
    points = [c for c in svg.iter(f"{ns}circle") if c.find(f"{ns}title") is not None]
    assert len(points) == 5  # one point per row with a known cost
    assert len(list(svg.iter(f"{ns}polyline"))) == 1  # the frontier of the 3-point variant (E's has one point)
    assert plot_svg(build_leaderboard([])) is None


@needs_shared_data
def test_plot_with_matplotlib(logs, tmp_path):
    pytest.importorskip("matplotlib")
    written = write_leaderboard(build_leaderboard(logs["board"]), tmp_path)
    assert written["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_shared_data
def test_html_sorts_in_headless_chromium(logs, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no chromium installed (apt-get install chromium): the sort script is checked in a real browser only there")
    written = write_leaderboard(build_leaderboard(logs["board"]), tmp_path, use_matplotlib=False)
    page = written["html"].read_text()
    # Click "$/1k total" (column 9) once: ascending.
    page = page.replace("</body>", "<script>document.getElementById('leaderboard').tHead.rows[0].cells[10].click();</script></body>")
    sorted_page = tmp_path / "sorted.html"
    sorted_page.write_text(page)
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", sorted_page.as_uri()],
        capture_output=True, text=True, timeout=90,
    ).stdout
    totals = [float(v) for v in re.findall(r'<td class="num" data-sort="([0-9.e-]+)">\$[0-9.]+</td><td class="num" data-sort="[0-9.]+">[0-9]+ / [0-9]+</td><td class="num" data-sort="[0-9.]+">', dom)]
    assert len(totals) == 5, dom[:2000]
    assert totals == sorted(totals) and totals[0] == pytest.approx(0.12) and totals[-1] == pytest.approx(0.45)
    assert 'aria-sort="ascending"' in dom
    # the rank column sorts too: best rank-sets first
    ranked = page.replace("</body>", "<script>document.getElementById('leaderboard').tHead.rows[0].cells[17].click();</script></body>")
    ranked_page = tmp_path / "ranked.html"
    ranked_page.write_text(ranked)
    ranked_dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", ranked_page.as_uri()],
        capture_output=True, text=True, timeout=90,
    ).stdout
    assert re.search(r"<th[^>]*aria-sort=\"ascending\"[^>]*>rank \(95% set\)</th>", ranked_dom), ranked_dom[:1500]
    cells = re.findall(r'<td data-sort="[01]">★?</td><td class="num" data-sort="([0-9.]*)">(—|[0-9]+(?:–[0-9]+)?)</td>'
                       r'<td class="num" data-sort="[0-9.]*">(?:—|[0-9]+%)</td>', ranked_dom)
    assert len(cells) == 5 and all(text != "—" for _, text in cells)
    assert [float(v) for v, _ in cells] == sorted(float(v) for v, _ in cells)
    # the plot is on the page, as an embedded image
    assert re.search(r'<img alt="accuracy against total inference cost[^"]*" src="data:image/svg\+xml;base64,', dom)


@needs_shared_data
def test_leaderboard_cli(logs, tmp_path, capsys):
    assert gcop_main(["leaderboard", str(logs["board"]), "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "leaderboard.html").is_file()
    assert gcop_main(["leaderboard", str(tmp_path / "nothing-here-yet"), "--out", str(tmp_path)]) == 2


@needs_shared_data
def test_leaderboard_writes_beside_the_logs_unless_told(logs, tmp_path, monkeypatch):
    board = tmp_path / "logs"
    shutil.copytree(logs["board"], board)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").mkdir()
    assert gcop_main(["leaderboard", str(board), "--quiet", "--no-matplotlib"]) == 0
    assert (board / "leaderboard" / "leaderboard.json").is_file()
    assert list((tmp_path / "reports").iterdir()) == []  # the committed folder only with --out reports


@needs_shared_data
def test_a_smaller_newer_run_never_replaces_a_larger_one(logs, tmp_path):
    folder = tmp_path / "reruns"
    folder.mkdir()
    shutil.copy(_path(logs["B"]), folder)
    shutil.copy(_path(logs["B8"]), folder)  # made later, on 8 of the 10 problems
    board = build_leaderboard(folder)
    [row] = board.rows
    assert row.n == 10 and os.path.abspath(row.log) == os.path.abspath(folder / os.path.basename(_path(logs["B"])))
    [warning] = [w for w in board.warnings if "superseded" in w]
    assert "using the most complete (10 problems" in warning and "(8 problems)" in warning


@needs_shared_data
def test_epochs_count_problems_and_cluster_the_interval(tmp_path):
    """5 problems x 3 epochs. The core gets problems 0 and 1 right every time, problem 2 once in
    three attempts, problems 3 and 4 never: accuracy = (1 + 1 + 1/3 + 0 + 0) / 5 = 7/15, over n = 5
    problems (15 attempts); the interval is Wilson over 5 problem means, wider than Wilson over 15
    attempts; $ and tokens are per problem (3 attempts each)."""
    _register_prices()
    problems = _problems(5)
    tries = {i: 0 for i in range(5)}

    def correct(i, prompt):
        tries[i] += 1
        return i in (0, 1) or (i == 2 and tries[i] == 1)

    log = _run(gsm8k(split="test", mode="core", data_dir=DATA), tmp_path,
               scripted_core("mockllm/core-a", problems, correct, 100), limit=5, epochs=3)
    [row] = build_leaderboard(log).rows
    assert (row.n, row.attempts, row.epochs, row.correct) == (5, 15, 3, 7)
    assert row.accuracy == pytest.approx(7 / 15)
    assert row.accuracy_ci95 == pytest.approx(wilson_interval(7 / 3, 5))
    naive = wilson_interval(7, 15)
    assert row.accuracy_ci95[0] < naive[0] and row.accuracy_ci95[1] > naive[1]
    # per problem: 3 x (100 in * $1 + 10 out * $2) / 1e6 = $0.00036, i.e. $0.36 per 1,000 problems
    assert row.cost_per_1k["core"] == pytest.approx(0.36)
    assert row.tokens_per_problem["core"]["input_tokens"] == 300


# --------------------------------------------------------------------------- regression gate


@needs_shared_data
def test_gate_catches_a_planted_regression(logs, tmp_path, monkeypatch):
    result = compare_logs(logs["B"], logs["R"])
    # B right on 0..8, R only on 0: b = 8, c = 0, drop 80 points, p = 2/256
    assert (result.b_baseline_only, result.c_candidate_only, result.pairs) == (8, 0, 10)
    assert result.drop_points == pytest.approx(80.0) and result.p_value == pytest.approx(2 / 256)
    assert result.regression and result.exit_code == 1
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert gcop_main(["regress", "--baseline", _path(logs["B"]), "--candidate", _path(logs["R"]), "--json", str(tmp_path / "r.json")]) == 1
    assert "**FAIL**" in summary.read_text() and "b = 8" in summary.read_text()
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is False
    # A tolerated drop, or a stricter alpha, lets it pass.
    assert gcop_main(["regress", "--baseline", _path(logs["B"]), "--candidate", _path(logs["R"]), "--max-drop", "85"]) == 0
    assert gcop_main(["regress", "--baseline", _path(logs["B"]), "--candidate", _path(logs["R"]), "--alpha", "0.005"]) == 0
    # One-sided: p = 1/256 < 0.005
    assert gcop_main(["regress", "--baseline", _path(logs["B"]), "--candidate", _path(logs["R"]), "--alpha", "0.005", "--one-sided"]) == 1


@needs_shared_data
def test_gate_passes_an_equal_pair(logs):
    result = compare_logs(logs["B"], logs["B2"], max_cost_increase=0.0)
    assert (result.b_baseline_only, result.c_candidate_only, result.drop_points, result.p_value) == (0, 0, 0.0, 1.0)
    assert result.cost_per_1k["total"]["change_pct"] == pytest.approx(0.0)
    assert result.passed
    assert gcop_main(["regress", "--baseline", _path(logs["B"]), "--candidate", str(Path(_path(logs["B2"])).parent)]) == 0


@needs_shared_data
def test_gate_refuses_mismatched_runs(logs):
    with pytest.raises(ComparisonRefused, match="different sample sets: 10 .* 8"):
        compare_logs(logs["B"], logs["B8"])
    with pytest.raises(ComparisonRefused, match="different data revisions"):
        compare_logs(logs["A"], logs["E"])
    assert gcop_main(["regress", "--baseline", _path(logs["B"]), "--candidate", _path(logs["B8"])]) == 2
    assert gcop_main(["regress", "--baseline", _path(logs["A"]), "--candidate", _path(logs["E"])]) == 2


@needs_shared_data
def test_gate_on_cost(logs):
    # A -> B: accuracy up (b = 0, c = 4), total $0.12 -> $0.21 per 1,000: +75%
    result = compare_logs(logs["A"], logs["B"], max_cost_increase=50)
    assert not result.regression and result.cost_increase_pct == pytest.approx(75.0) and result.cost_fail
    assert result.cost_per_1k["guide"] == pytest.approx({"baseline": 0.0, "candidate": 0.04, "change": 0.04, "change_pct": math.inf})
    assert gcop_main(["regress", "--baseline", _path(logs["A"]), "--candidate", _path(logs["B"]), "--max-cost-increase", "50"]) == 1
    assert gcop_main(["regress", "--baseline", _path(logs["A"]), "--candidate", _path(logs["B"]), "--max-cost-increase", "80"]) == 0


# --------------------------------------------------------------------------- executability


def _strategy_core(problems, good):
    """Right iff the strategy in the prompt is one of problem i's good plan numbers."""

    def correct(i, prompt):
        found = re.search(r"Plan number (\d+)", prompt)
        return found is not None and int(found.group(1)) in good[i]

    return scripted_core("mockllm/core-a", problems, correct, 150)


def _numbered_guide(problems):
    calls: dict[int, int] = {}

    def strategy(messages, *_):
        i = _which(problems, messages)
        k = calls.get(i, 0)
        calls[i] = k + 1
        return mock_output(f"<strategy>Plan number {k}: work it out.</strategy>", model="mockllm/guide-g", input_tokens=40, output_tokens=20)

    return get_model("mockllm/guide-g", custom_outputs=strategy, memoize=False)


@needs_shared_data
def test_executability_with_m_strategies_and_k_executions(logs, tmp_path):
    problems = logs["problems"][:4]
    good = {0: {0, 1, 2}, 1: {0, 1}, 2: {0}, 3: set()}  # alpha(x) = 1, 2/3, 1/3, 0
    # Design A: 3 epochs, the guide sampled afresh each time: M = 3, K = 1.
    first = _run(gsm8k(split="test", mode="guided", data_dir=DATA), tmp_path / "m", _strategy_core(problems, good),
                 model_roles={"guide": _numbered_guide(problems)}, limit=4, epochs=3)
    report = estimate(first, horizon=2.0)
    expected = [1, 2 / 3, 1 / 3, 0]
    assert [p.alpha for p in report.problems] == pytest.approx([expected[i] for i in _order(report, problems)])
    assert report.mean_gap == pytest.approx(0.5)
    # Hoeffding, any P: 0.5 -+ sqrt(ln(40) / 8) = 0.5 -+ 0.679, clamped to [0, 1]
    assert report.gap_ci95 == pytest.approx((0.0, 1.0))
    # the normal approximation: sd of (1, 2/3, 1/3, 0) = 0.43033; se = 0.21517; 0.5 -+ 1.96 * se
    assert report.gap_ci95_normal == pytest.approx((0.0783, 0.9217), abs=1e-4)
    assert report.bound == pytest.approx(2.0) and report.bound_ci95 == pytest.approx((0.0, 4.0))
    assert report.design()["strategies_per_problem_M"]["max"] == 3 and report.design()["executions_per_strategy_K"]["max"] == 1
    text = report.format()
    assert "E[1 - alpha]             = 0.5000" in text and "[0.9, 1.0]     1" in text
    assert "warning: only 4 problems" in text and "normal approximation" not in text

    # Design B: each recorded strategy replayed K = 2 times (epochs 1-2 <- 1, 3-4 <- 2, 5-6 <- 3).
    guide_file = tmp_path / "guide.jsonl"
    assert write_replay(first, guide_file, k=2) == 4 * 3 * 2
    second = _run(gsm8k(split="test", mode="guided", data_dir=DATA), tmp_path / "mk", _strategy_core(problems, good),
                  model_roles={"guide": get_model("gcop/replay", path=str(guide_file), memoize=False)}, limit=4, epochs=6)
    report = estimate(second)
    assert report.design()["strategies_per_problem_M"] == {"min": 3, "median": 3, "max": 3}
    assert report.design()["executions_per_strategy_K"] == {"min": 2, "median": 2, "max": 2}
    assert report.mean_gap == pytest.approx(0.5) and report.bound == pytest.approx(1.0)
    assert all(s["alpha"] in (0.0, 1.0) for p in report.problems for s in p.per_strategy)
    assert gcop_main(["executability", _path(second), "--json", str(tmp_path / "x.json")]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["bound_term"] == pytest.approx(1.0)


def test_executability_interval_is_not_degenerate_on_few_problems():
    # every problem solved on every draw: the spread is 0, so the normal interval would be [0, 0]
    from gcop.results.executability import ExecutabilityReport, ProblemEstimate

    problems = [ProblemEstimate(id=str(i), draws=3, strategies=3, solved=3, alpha=1.0) for i in range(5)]
    report = ExecutabilityReport(log="x", benchmark="gsm8k", core="c", guide="g", problems=problems,
                                 invalid_policy="failure", invalid_draws=0, error_samples=0, excluded_problems=0,
                                 horizon=1.0, r_max=1.0)
    assert report.gap_ci95_normal == (0.0, 0.0)
    low, high = report.gap_ci95
    assert low == 0.0 and high == pytest.approx(math.sqrt(math.log(40) / 10))  # 0.607: 5 problems say little
    assert "warning: only 5 problems" in report.format()


def _order(report, problems):
    ids = [p.id for p in problems]
    return [ids.index(p.id) for p in report.problems]


@needs_shared_data
def test_executability_invalid_strategies_and_refusals(logs):
    report = estimate(logs["B"])  # problem 9's strategy is invalid: a failed execution by default
    assert report.invalid_draws == 1 and report.mean_gap == pytest.approx(0.1)
    assert estimate(logs["B"], invalid="exclude").mean_gap == pytest.approx(0.0)
    # both definitions are reported, each labelled, whichever one the interval uses
    assert report.other_policy == {"policy": "exclude", "problems": 9, "mean_alpha": 1.0}
    text = report.format()
    assert "invalid strategies count as failed executions" in text and "executions of valid strategies only" in text
    assert "= 0.9000" in text and "= 1.0000   (9 problems)" in text
    with pytest.raises(LogError, match="not a guided run"):
        estimate(logs["A"])
    assert gcop_main(["executability", _path(logs["A"])]) == 2


# --------------------------------------------------------------------------- grid


def _replay_file(path, problems, ids):
    path.write_text("".join(json.dumps({"id": p.id, "completion": f"\\boxed{{{p.target}}}"}) + "\n" for p in problems if p.id in ids))


@needs_shared_data
def test_grid_rows_are_recoverable_and_a_rerun_skips_finished_rows(tmp_path):
    problems = _problems(3)
    replay = tmp_path / "core.jsonl"
    _replay_file(replay, problems, {p.id for p in problems})
    log_dir = tmp_path / "grid"
    common = dict(benchmark="gsm8k", core="gcop/replay", core_args={"path": str(replay)},
                  reference_cores=["gcop/reference"], guides={"ref": "gcop/reference"},
                  log_dir=str(log_dir), limit=3, task_args={"data_dir": DATA}, display="none")
    result = run_grid(**common)
    assert result.success and len(result.logs) == 3
    board = build_leaderboard(log_dir)
    got = sorted((r.recipe, r.core, r.guide or "") for r in board.rows)
    assert got == [("core", "gcop/replay", ""), ("guided", "gcop/replay", "ref"), ("reference-core", "gcop/reference", "")]
    assert all(r.accuracy == 1.0 and r.n == 3 for r in board.rows)
    guided = read_run(next(r.log for r in board.rows if r.recipe == "guided")).info
    assert guided.grid["guide_model"] == "gcop/reference" and guided.grid["limit"] == 3

    before = {p: p.stat().st_mtime_ns for p in log_dir.glob("*.eval")}
    assert run_grid(**common).success
    assert {p: p.stat().st_mtime_ns for p in log_dir.glob("*.eval")} == before  # nothing re-run

    with pytest.raises(GridConfigError, match="limit: 3 there, 5 now"):
        run_grid(**{**common, "limit": 5})


@needs_shared_data
def test_grid_retries_failed_rows_and_keeps_finished_samples(tmp_path):
    problems = _problems(3)
    replay = tmp_path / "core.jsonl"
    _replay_file(replay, problems, {problems[0].id, problems[1].id})  # problem 2 has no recorded answer
    log_dir = tmp_path / "grid"
    common = dict(benchmark="gsm8k", core="gcop/replay", core_args={"path": str(replay)}, log_dir=str(log_dir),
                  limit=3, task_args={"data_dir": DATA}, display="none", retry_attempts=0)
    first = run_grid(**common)
    assert not first.success
    [failed] = first.logs
    uuids = {s.id: s.uuid for s in read_eval_log(failed.location).samples}
    _replay_file(replay, problems, {p.id for p in problems})
    second = run_grid(**common)
    assert second.success
    samples = {s.id: s.uuid for s in read_eval_log(second.logs[0].location).samples}
    assert samples[problems[0].id] == uuids[problems[0].id]  # completed samples re-used, not re-run
    assert samples[problems[2].id] != uuids[problems[2].id]


def test_grid_plan_and_cli(capsys):
    rows = plan_rows("m/core", icl=True, reference_cores=["m/big"], guides=[("none", "vllm/base"), ("sft", "hf/ckpt")])
    assert [(r.recipe, r.guide) for r in rows] == [("core", None), ("icl", None), ("reference-core", None), ("guided", "none"), ("guided", "sft")]
    with pytest.raises(GridConfigError, match="same model"):
        plan_rows("m/core", guides=[("a", "x/y"), ("b", "x/y")])
    with pytest.raises(GridConfigError, match="the core itself"):
        plan_rows("m/core", reference_cores=["m/core"])
    assert gcop_main(["grid", "--benchmark", "gsm8k", "--icl", "--guide", "sft=hf/ckpt/sft", "--dry-run"]) == 0
    assert "anthropic/claude-haiku-4-5 + guide sft (hf/ckpt/sft)" in capsys.readouterr().out
    assert gcop_main(["grid", "--benchmark", "gsm8k", "--guide", "no-model"]) == 2
    assert gcop_main(["grid", "--benchmark", "gsm8k", "-T", "mode=core", "--core", "gcop/reference", "--log-dir", "/nonexistent/x"]) == 2


@needs_shared_data
def test_grid_cli_runs_a_code_benchmark_and_feeds_the_leaderboard(tmp_path, capsys):
    log_dir = tmp_path / "grid"
    argv = ["grid", "--benchmark", "humaneval", "--core", "gcop/reference", "--icl", "--guide", "ref=gcop/reference",
            "--executor", "local", "--limit", "2", "--log-dir", str(log_dir), "--data-dir", DATA, "--display", "none"]
    assert gcop_main(argv) == 0
    assert "all rows complete" in capsys.readouterr().out
    assert gcop_main(["leaderboard", str(log_dir), "--out", str(tmp_path / "board"), "--quiet", "--no-matplotlib"]) == 0
    rows = json.loads((tmp_path / "board" / "leaderboard.json").read_text())["rows"]
    assert sorted((r["recipe"], r["guide"] or "", r["accuracy"], r["n"]) for r in rows) == [
        ("core", "", 1.0, 2), ("guided", "ref", 1.0, 2), ("icl", "", 1.0, 2)]


@needs_shared_data
def test_grid_refuses_a_folder_with_other_logs_unless_allowed(logs, tmp_path, capsys):
    folder = tmp_path / "grid"
    folder.mkdir()
    shutil.copy(_path(logs["A"]), folder / Path(_path(logs["A"])).name)
    argv = ["grid", "--benchmark", "gsm8k", "--core", "gcop/reference", "--limit", "2", "--log-dir", str(folder),
            "--data-dir", DATA, "--display", "none"]
    assert gcop_main(argv) == 2
    assert "--allow-dirty" in capsys.readouterr().err
    assert gcop_main(argv + ["--allow-dirty"]) == 0


@needs_shared_data
def test_note_says_how_the_runs_were_produced(logs, tmp_path, capsys):
    note = "made by `gcop grid` with mockllm <offline> & no API"
    assert gcop_main(["leaderboard", str(logs["board"]), "--out", str(tmp_path), "--note", note]) == 0
    assert f"**How these runs were produced:** {note}" in capsys.readouterr().out
    assert f"**How these runs were produced:** {note}" in (tmp_path / "leaderboard.md").read_text()
    assert json.loads((tmp_path / "leaderboard.json").read_text())["note"] == note
    assert "mockllm &lt;offline&gt; &amp; no API" in (tmp_path / "leaderboard.html").read_text()


@needs_shared_data
def test_plot_labels_never_overlap_in_a_browser(logs, tmp_path):
    """Eight rows crowded into one corner of a panel: in a real browser, no two point labels'
    bounding boxes intersect, none covers a point, and every row is in the panel's key."""
    import dataclasses

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no chromium installed (apt-get install chromium): label overlap is checked in a real browser only there")
    from gcop.results.leaderboard import Leaderboard

    base = _row_of(build_leaderboard(logs["board"]), logs["A"])
    rows = [dataclasses.replace(base, core=f"mockllm/core-{i}", accuracy=0.5 + 0.004 * (i % 3),
                                cost_per_1k={"guide": 0.0, "core": 0.12 + 0.001 * i, "strong": 0.0, "total": 0.12 + 0.001 * i},
                                accuracy_ci95=(0.4, 0.6), variant="", pareto=False) for i in range(8)]
    svg = plot_svg(Leaderboard(rows=rows, warnings=[], skipped=[], variants={}, sources=["x"]))
    page = tmp_path / "plot.html"
    page.write_text(f"""<!doctype html><html><body>{svg}<script>
const labels = [...document.querySelectorAll('text.point-label')].map(t => t.getBBox());
const points = [...document.querySelectorAll('circle')].filter(c => c.querySelector('title')).map(c => c.getBBox());
const hit = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
let overlaps = 0, covers = 0;
labels.forEach((a, i) => {{ labels.slice(i + 1).forEach(b => {{ if (hit(a, b)) overlaps++; }});
                            points.forEach(p => {{ if (hit(a, p)) covers++; }}); }});
document.body.setAttribute('data-result', JSON.stringify({{labels: labels.length, overlaps, covers,
  keys: document.querySelectorAll('text.key').length}}));
</script></body></html>""")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=90).stdout
    found = re.search(r"data-result=\"([^\"]+)\"", dom)
    assert found, dom[:500]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result == {"labels": 8, "overlaps": 0, "covers": 0, "keys": 8}
