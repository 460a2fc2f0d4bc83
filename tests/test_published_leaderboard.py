"""The committed leaderboard pages: rebuilt from their data/ they are the same markdown, and every figure they link exists."""

import re
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from reportbench.leaderboard import PAGE
from reportbench.runs import load_runs

BOARDS = Path(__file__).resolve().parent.parent / "leaderboards"
PAGES = sorted(p.parent for p in BOARDS.glob(f"*/{PAGE}"))


def test_a_page_is_published():
    assert PAGES, "leaderboards/ holds no published page"


def test_the_index_lists_every_page_as_leaderboard_index_writes_it(tmp_path):
    copy = tmp_path / "leaderboards"
    for board in PAGES:
        shutil.copytree(board / "data", copy / board.name / "data")
    result = run_cli(["reportbench", "leaderboard-index", str(copy)], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (copy / PAGE).read_text() == (BOARDS / PAGE).read_text()


@pytest.mark.parametrize("board", PAGES, ids=lambda p: p.name)
def test_page_rebuilds_to_the_same_markdown(board, tmp_path):
    copy = tmp_path / board.name
    shutil.copytree(board / "data", copy / "data")
    result = run_cli(["reportbench", "leaderboard", str(copy / "data"), "--out", str(copy)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (copy / PAGE).read_text() == (board / PAGE).read_text()
    for figure in re.findall(r"\]\(([^)]+\.png)\)", (board / PAGE).read_text()):
        assert (board / figure).stat().st_size > 10_000, figure


def test_smollm2_page_covers_what_was_promised():
    runs = load_runs(BOARDS / "smollm2-135m" / "data")
    cells = runs.cells
    assert set(cells["model"]) == {"smollm2-135m", "smollm2-135m-lora"}  # base and its LoRA fine-tune
    assert set(cells["domain"]) == {"pharma", "traffic"} and set(cells["prompt"]) == {"A", "B", "C", "D"}
    assert set(cells["split"]) == {"test"} and set(cells["n"]) == {36} and cells["limit"].isna().all()
    decoding = set(zip(cells["temperature"], cells["top_p"].fillna(-1)))
    assert (0.0, -1) in decoding and (1.0, 0.6) in decoding  # greedy and the seed study's best setting
    assert runs.samples.groupby("cell").size().eq(36).all()


def test_smollm2_page_shows_constrained_cells_and_their_comparison():
    runs = load_runs(BOARDS / "smollm2-135m" / "data")
    cells = runs.cells
    constrained = cells[cells["structured_output"] == "json"]
    assert sorted(constrained["task"]) == [f"reportbench_{d}_{p}" for d in ("pharma", "traffic") for p in "bd"]
    assert set(constrained["temperature"]) == {0.0} and set(constrained["model"]) == {"smollm2-135m"}
    json_samples = runs.samples[runs.samples["cell"].isin(constrained["cell"])]
    assert json_samples["truncated"].notna().all() and (json_samples["json_valid"] + json_samples["truncated"] == 1).all()
    page = (BOARDS / "smollm2-135m" / "README.md").read_text()
    assert "greedy · 300 tok · json" in page
    for prompt in "BD":
        compared = (BOARDS / "smollm2-135m" / f"compare_{prompt}_free_vs_json_greedy.md").read_text()
        assert f"{prompt} · greedy · 300 tok · json" in compared and "| all | json_valid ↑" in compared
