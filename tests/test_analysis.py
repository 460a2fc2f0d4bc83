"""The page's error analysis and learning curve (reportbench.analysis), and `compare --steps`, on fixture runs."""

import pytest
from conftest import run_cli
from fixture_runs import write_cell

from reportbench.analysis import curve_points, failure_table, step_tables, worst_cases
from reportbench.cases import select_cases
from reportbench.leaderboard import aggregate, build_page
from reportbench.metrics.confidence import holm, summarize
from reportbench.runs import RunsError, load_runs

# Test-split case ids of the packaged data, so the worst cases can quote key fields and references.
PHARMA = [case["id"] for case in select_cases("pharma", "test")[:4]]
TRAFFIC = [case["id"] for case in select_cases("traffic", "test")[:4]]


def write_checkpoint(root, model, family, size, values, **extra):
    for domain, ids in (("pharma", PHARMA), ("traffic", TRAFFIC)):
        scores = {case_id: dict({"bi_encoder_cosine": v, "fact_recall": 0.5}, **extra.get(case_id, {})) for case_id, v in zip(ids, values)}
        write_cell(root, scores, model=model, task=f"reportbench_{domain}_d", tags={"family": family, "training_cases": size})


@pytest.fixture
def curve_runs(tmp_path):
    root = tmp_path / "runs"
    write_checkpoint(root, "s-0", "s", 0, [0.30, 0.40, 0.50, 0.35],
                     **{PHARMA[0]: {"json_valid": 0.0, "hallucinated_facts": 0.0, "fact_recall": 0.2}})
    write_checkpoint(root, "s-20", "s", 20, [0.40, 0.50, 0.60, 0.45])
    write_checkpoint(root, "s-40", "s", 40, [0.45, 0.55, 0.62, 0.50])
    write_checkpoint(root, "g-0", "g", 0, [0.10, 0.20, 0.15, 0.12])
    write_checkpoint(root, "g-80", "g", 80, [0.20, 0.25, 0.30, 0.22])
    return root


def test_holm_adjusts_like_the_textbook():
    # sorted p 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([]) == []


def test_learning_curve_points_per_family_and_size(curve_runs):
    runs = load_runs(curve_runs)
    points = curve_points(runs, aggregate(runs, "bi_encoder_cosine"))
    assert list(zip(points["family"], points["size"])) == [("g", 0), ("g", 80), ("s", 0), ("s", 20), ("s", 40)]
    expected = summarize([0.40, 0.50, 0.60, 0.45] * 2)
    row = points[(points["family"] == "s") & (points["size"] == 20)].iloc[0]
    assert (row["mean"], row["n"]) == (pytest.approx(expected["mean"]), 8)


def test_failure_modes_and_worst_cases(curve_runs):
    runs = load_runs(curve_runs)
    agg = aggregate(runs, "bi_encoder_cosine")
    table = failure_table(runs, agg).set_index("model")
    # s-0: 1 of 8 cases has invalid JSON and fact recall < 0.5; every other case has a hallucinated fact (filler 1.0)
    assert table.loc["s-0", "invalid JSON"].startswith("0.12 [") and table.loc["s-0", "fact recall < 0.5"].startswith("0.12 [")
    assert table.loc["s-0", "hallucinated fact"].startswith("0.88 [") and table.loc["s-20", "invalid JSON"] == "0.00 [0.00, 0.00]"
    assert table.loc["s-0", "n"] == "8" and table.loc["s-0", "judge answer unreadable"] == "— (no judge ran)"
    text = "\n".join(worst_cases(runs, agg))
    section = text.split("### s-0")[1].split("### ")[0]
    # the three lowest cases of s-0, lowest first (ties by case id), with the packaged key fields and reference
    assert section.index(f"**{PHARMA[0]}**") < section.index(f"**{TRAFFIC[0]}**") < section.index(f"**{PHARMA[3]}**")
    assert f"**{PHARMA[1]}**" not in section and section.count("Prediction (raw generation") == 3
    case = select_cases("pharma", "test")[0]
    assert case["event_description"] in section and f"- what: {case['what']}" in section
    assert f"generation of {PHARMA[0]} by s-0" in section


def test_page_has_learning_curve_failures_worst_cases_and_rebuilds_byte_for_byte(curve_runs, tmp_path):
    out = tmp_path / "page"
    page = build_page(load_runs(curve_runs), out, title="Curve").read_text()
    for heading in ("## Learning curve", "## Failure modes", "## Worst cases", "### Every other metric"):
        assert heading in page
    assert (out / "learning_curve.png").stat().st_size > 5000 and "](learning_curve.png)" in page
    assert "training_cases=0 → 20 (s-0 → s-20)" in page and "Holm p" in page  # two steps in family s
    rebuilt = run_cli(["reportbench", "leaderboard", str(out / "data"), "--out", str(tmp_path / "again")], tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert (tmp_path / "again" / "README.md").read_text() == page
    assert (tmp_path / "again" / "learning_curve.png").read_bytes() == (out / "learning_curve.png").read_bytes()


def test_compare_steps_pairs_neighbouring_sizes_with_holm(curve_runs, tmp_path):
    result = run_cli(["reportbench", "compare", str(curve_runs), "--steps", "training_cases", "--where", "tags.family=s",
                      "--metric", "bi_encoder_cosine"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training_cases=0 → 20 (s-0 → s-20)" in result.stdout and "training_cases=20 → 40 (s-20 → s-40)" in result.stdout
    assert "Holm p" in result.stdout and "+0.1000" in result.stdout
    # both families at once: a size that two models share cannot be paired
    mixed = run_cli(["reportbench", "compare", str(curve_runs), "--steps", "training_cases"], tmp_path)
    assert mixed.returncode == 2 and "holds 2 models" in mixed.stderr and "Traceback" not in mixed.stderr
    # a size that ran an extra configuration: the page pairs the shared one, compare --steps asks for --where
    write_cell(curve_runs, {PHARMA[0]: 0.5}, model="s-0", task="reportbench_pharma_b", tags={"family": "s", "training_cases": 0})
    extra = run_cli(["reportbench", "compare", str(curve_runs), "--steps", "training_cases", "--where", "tags.family=s"], tmp_path)
    assert extra.returncode == 2 and "steps pair the same configurations" in extra.stderr
    assert "training_cases=0 → 20" in "\n".join(step_tables(load_runs(curve_runs), "bi_encoder_cosine"))
    missing = run_cli(["reportbench", "compare", str(curve_runs)], tmp_path)
    assert missing.returncode == 2 and "RUN_B is missing" in missing.stderr
    with pytest.raises(RunsError, match="at least two values"):
        from reportbench.compare import tag_steps

        tag_steps(load_runs(curve_runs).select({"model": "s-0"}), "training_cases")


def test_leaderboard_index_lists_each_page(curve_runs, tmp_path):
    boards = tmp_path / "boards"
    build_page(load_runs(curve_runs), boards / "curve", title="Curve page")
    result = run_cli(["reportbench", "leaderboard-index", str(boards)], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in (boards / "README.md").read_text().splitlines()
            if line.startswith("| [")]
    assert rows == [["[curve](curve/README.md)", "Curve page", "2026-11-20", "5: g-0, g-80, s-0, s-20, s-40", "10", "`fact_recall`"]]
    empty = run_cli(["reportbench", "leaderboard-index", str(tmp_path / "nothing")], tmp_path)
    assert empty.returncode == 2 and "no page" in empty.stderr
