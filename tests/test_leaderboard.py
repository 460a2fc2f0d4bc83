"""`reportbench leaderboard`: table contents, statistics, figures and byte-identical rebuilds, on fixture runs."""

import numpy as np
import pytest
from conftest import run_cli
from fixture_runs import cases, write_cell

from reportbench.analysis import all_metrics_table, headline_table
from reportbench.leaderboard import aggregate, build_page, grid_tables
from reportbench.metrics.confidence import summarize
from reportbench.primary import choose_primary
from reportbench.runs import RunsError, load_runs

M1_GREEDY = (cases("pharma", [0.6, 0.7, 0.8]), cases("traffic", [0.5, 0.6, 0.7]))
M1_SAMPLED = (cases("pharma", [0.7, 0.8, 0.9]), cases("traffic", [0.6, 0.7, 0.8]))
M2_GREEDY = (cases("pharma", [0.2, 0.3, 0.4]), cases("traffic", [0.3, 0.4, 0.5]))


def write_both_domains(root, values, prompt="a", **settings):
    for domain, scores in zip(("pharma", "traffic"), values):
        write_cell(root, scores, task=f"reportbench_{domain}_{prompt}", **settings)


@pytest.fixture
def runs_dir(tmp_path):
    root = tmp_path / "runs"
    write_both_domains(root, M1_GREEDY, model="m1", wall_seconds=10, generated_tokens=500)
    write_both_domains(root, M1_SAMPLED, model="m1", temperature=1.0, top_p=0.6, wall_seconds=20, generated_tokens=1000,
                       finished_at="2026-11-20T11:00:00+00:00")
    write_both_domains(root, M2_GREEDY, model="m2", parameters=360_000_000)
    return root


def values(*domains):
    return [v for scores in domains for v in scores.values()]


def ci(values_):
    stats = summarize(values_)
    return f"{stats['mean']:.3f} [{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]"


def test_ranking_lists_each_models_best_config_with_its_ci(runs_dir):
    runs = load_runs(runs_dir)
    agg = aggregate(runs, "bi_encoder_cosine")
    table = headline_table(runs, agg)
    assert list(table["model"]) == ["m1", "m2"] and list(table["rank"]) == ["1", "2"]
    assert table["best config"][0] == "A · T=1 top_p=0.6 top_k=50 · 300 tok"
    assert table["best config"][1] == "A · greedy · 300 tok"
    assert table["bi_encoder_cosine ↑ (95% CI)"][0] == ci(values(*M1_SAMPLED))
    assert list(table["n"]) == ["6", "6"]
    # every mean with its CI and the n it stands on
    assert table["pharma (n)"][0] == ci(values(M1_SAMPLED[0])) + " (3)" and table["traffic (n)"][0] == ci(values(M1_SAMPLED[1])) + " (3)"
    assert table["parameters"][0] == "135.0M" and table["parameters"][1] == "360.0M"
    # 2 cells x 1000 tokens in 2 x 20 s
    assert table["tokens/s"][0] == "50.0"
    assert table["hallucinated_facts ↓"][0] == "1.000 [1.000, 1.000]" and "rougeL ↑" not in table
    others = all_metrics_table(runs, agg)
    assert "rougeL ↑" in others and "hallucinated_facts ↓" not in others and others["latency s/sample"][0] == "6.67"
    assert "bi_encoder_cosine ↑" not in others  # the primary metric is the headline's CI column, not repeated


def test_grid_tables_are_sorted_with_count_mean_and_std(runs_dir):
    agg = aggregate(load_runs(runs_dir), "bi_encoder_cosine")
    (prompt_a,) = grid_tables(agg, "m1").values()
    assert list(prompt_a["temperature"]) == ["1", "0"] and list(prompt_a["top_p"]) == ["0.6", "—"]
    assert list(prompt_a["count"]) == [6, 6]
    assert list(prompt_a["mean"]) == ["0.750", "0.650"]
    assert prompt_a["std"].iloc[0] == f"{np.std(values(*M1_SAMPLED), ddof=1):.3f}"
    assert "top_k" not in prompt_a  # only settings that vary get a column


def test_seeds_are_averaged_per_case_before_the_bootstrap(tmp_path):
    root = tmp_path / "runs"
    write_both_domains(root, M1_GREEDY, temperature=1.0, seed=0)
    shifted = tuple({k: v + 0.1 for k, v in d.items()} for d in M1_GREEDY)
    write_both_domains(root, shifted, temperature=1.0, seed=1)
    agg = aggregate(load_runs(root), "bi_encoder_cosine")
    (row,) = agg.configs.to_dict("records")
    assert (row["cases"], row["seeds"], row["samples"]) == (6, 2, 12)
    per_case = [v + 0.05 for v in values(*M1_GREEDY)]
    expected = summarize(per_case)
    assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx((expected["mean"], expected["ci_low"], expected["ci_high"]))


def test_configs_missing_cases_are_named_not_ranked(runs_dir, tmp_path):
    write_cell(runs_dir, cases("pharma", [0.99, 0.99, 0.99]), model="m3", task="reportbench_pharma_b")
    page = build_page(load_runs(runs_dir), tmp_path / "board").read_text()
    assert "Left out of every table and figure, because they miss cases the others ran (a partial or unfinished run?): m3 B · greedy · 300 tok." in page
    ranking = page.split("## Ranking")[1].split("## Grid")[0]
    assert "| m3" not in ranking


def test_primary_metric_defaults_and_choice(runs_dir, tmp_path):
    runs = load_runs(runs_dir)
    metric, reason = choose_primary(runs.complete_metrics, None)
    assert metric == "bi_encoder_cosine" and reason.endswith("since `fact_recall` is not in every sample of these runs")
    assert choose_primary(runs.complete_metrics, "rougeL")[0] == "rougeL"
    with pytest.raises(RunsError, match="no better direction"):
        choose_primary(runs.complete_metrics, "words")
    with pytest.raises(RunsError, match="unknown metric"):
        choose_primary(runs.complete_metrics, "nope")
    with_facts = tmp_path / "with_facts"
    write_cell(with_facts, {"pharma-001": {"cross_encoder": 0.4, "fact_recall": 0.5}, "pharma-002": {"cross_encoder": 0.6, "fact_recall": 1.0}})
    assert choose_primary(load_runs(with_facts).complete_metrics, None) == ("fact_recall", "`fact_recall`, the default")


def test_lower_is_better_primary_ranks_ascending(runs_dir):
    write_both_domains(runs_dir, tuple({k: {"hallucinated_facts": 0.0} for k in d} for d in M2_GREEDY), model="m2", prompt="b")
    runs = load_runs(runs_dir)
    table = headline_table(runs, aggregate(runs, "hallucinated_facts"))
    assert table["model"][0] == "m2" and table["best config"][0].startswith("B ·")
    assert "hallucinated_facts ↓ (95% CI)" in table


def png_is_a_real_figure(path):
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 5000
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_page_figures_and_metadata(runs_dir, tmp_path):
    out = tmp_path / "board"
    page = build_page(load_runs(runs_dir), out, title="Fixture board").read_text()
    for name in ("score_vs_temperature.png", "histograms_m1.png", "histograms_m2.png", "metric_correlation.png"):
        png_is_a_real_figure(out / name)
        assert f"]({name})" in page
    assert page.startswith("# Fixture board\n")
    assert "**Primary metric:** `bi_encoder_cosine`" in page
    # what the published audit says about the ranking metric, next to its name
    assert "Validity of `bi_encoder_cosine` with the default metric models" in page and "one-fact changes" in page
    assert "runs finished 2026-11-20T10:00:00+00:00–2026-11-20T11:00:00+00:00" in page
    assert "lm-eval 0.4.13" in page and "n per cell 3 (listed below)" in page
    assert "**Data, pharma:** split `test`, 3 cases evaluated" in page
    assert page.count("| reportbench_") == 6  # the cells table
    assert (out / "data" / "cells.csv").is_file() and (out / "data" / "samples.csv").is_file()


def test_rebuild_gives_the_same_page_from_runs_and_from_its_data(runs_dir, tmp_path):
    out = tmp_path / "board"
    first = build_page(load_runs(runs_dir), out).read_text()
    figures = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert build_page(load_runs(runs_dir), out).read_text() == first
    assert build_page(load_runs(out / "data"), out).read_text() == first
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == figures


def test_rebuild_from_data_keeps_the_title_metric_and_reason_it_was_built_with(runs_dir, tmp_path):
    first = run_cli(["reportbench", "leaderboard", str(runs_dir), "--out", str(tmp_path / "a"), "--title", "T", "--metric", "rougeL",
                     "--why", "Because the test says so."], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    rebuilt = run_cli(["reportbench", "leaderboard", str(tmp_path / "a" / "data"), "--out", str(tmp_path / "b")], tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    page = (tmp_path / "b" / "README.md").read_text()
    assert page == (tmp_path / "a" / "README.md").read_text()
    assert page.startswith("# T\n") and "**Primary metric:** `rougeL`" in page
    assert "higher is better. Because the test says so. Every other metric" in page


def test_a_page_extended_with_new_cells_equals_a_page_built_from_all_runs(runs_dir, tmp_path):
    """A published page's data/ plus new grid cells: the same page as from all the raw runs at once."""
    from reportbench.runs import load_all

    build_page(load_runs(runs_dir), tmp_path / "old", title="T")
    new = tmp_path / "new"
    write_both_domains(new, M2_GREEDY, model="m3")
    extended = build_page(load_all([tmp_path / "old" / "data", new]), tmp_path / "extended", title="T").read_text()
    write_both_domains(runs_dir, M2_GREEDY, model="m3")
    assert extended == build_page(load_runs(runs_dir), tmp_path / "all", title="T").read_text()
    with pytest.raises(RunsError, match="appears more than once"):
        load_all([tmp_path / "old" / "data", runs_dir])


def test_cli_writes_the_page_and_reports_bad_runs(runs_dir, tmp_path):
    result = run_cli(["reportbench", "leaderboard", str(runs_dir), "--out", str(tmp_path / "board"), "--select", "model=m1"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote" in result.stdout and "3 figure(s)" in result.stdout
    page = (tmp_path / "board" / "README.md").read_text()
    assert "| m1" in page and "| m2" not in page
    damaged = sorted(runs_dir.rglob("samples.jsonl"))[0]
    damaged.write_text('{"doc": {"id": "pharma-001"}}\nnot json\n')
    bad = run_cli(["reportbench", "leaderboard", str(runs_dir), "--out", str(tmp_path / "x")], tmp_path)
    assert bad.returncode == 2 and "samples.jsonl:2: invalid JSON" in bad.stderr and "Traceback" not in bad.stderr
    assert "--skip-damaged" in bad.stderr and not (tmp_path / "x").exists()
    # Skipped when asked, and then listed on the page; a rebuild from the page's data/ keeps the list.
    skipped = run_cli(["reportbench", "leaderboard", str(runs_dir), "--out", str(tmp_path / "y"), "--skip-damaged", "--title", "T"], tmp_path)
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    page = (tmp_path / "y" / "README.md").read_text()
    cell = damaged.parent.relative_to(runs_dir)
    assert "### Skipped: damaged cells and stray files" in page and f"- `{cell}: samples.jsonl:2: invalid JSON" in page
    rebuilt = run_cli(["reportbench", "leaderboard", str(tmp_path / "y" / "data"), "--out", str(tmp_path / "z")], tmp_path)
    assert rebuilt.returncode == 0 and (tmp_path / "z" / "README.md").read_text() == page
    # A damaged cell that --select rules out blocks nothing.
    other = "m2" if str(cell).startswith("m1") else "m1"
    selected = run_cli(["reportbench", "leaderboard", str(runs_dir), "--out", str(tmp_path / "w"), "--select", f"model={other}"], tmp_path)
    assert selected.returncode == 0, selected.stderr[-2000:]
    # compare: the same rule and the same flag.
    compared = run_cli(["reportbench", "compare", str(runs_dir), str(runs_dir), "--where", f"model={cell.parts[0]}"], tmp_path)
    assert compared.returncode == 2 and "1 damaged cell folder(s)" in compared.stderr


def test_a_metric_missing_from_some_samples_is_shown_as_missing(tmp_path):
    root = tmp_path / "runs"
    write_cell(root, {"pharma-001": {"cross_encoder": 0.4}, "pharma-002": {"bi_encoder_cosine": 0.6}})
    runs = load_runs(root)
    agg = aggregate(runs, "bi_encoder_cosine")
    assert agg.configs["cross_encoder"].isna().all()  # not the mean of the one sample that has it
    assert all_metrics_table(runs, agg)["cross_encoder ↑"][0] == "0.400 [0.400, 0.400] (n=1)"  # shown with the n it stands on
