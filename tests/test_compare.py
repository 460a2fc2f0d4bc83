"""`reportbench compare`: paired statistics on the same cases, refusals, selections; fixture runs."""

import re

import numpy as np
from conftest import run_cli
from fixture_runs import cases, write_cell

from reportbench.metrics.confidence import paired_difference

BASE = {**cases("pharma", [0.50, 0.60, 0.55, 0.70, 0.40]), **cases("traffic", [0.45, 0.65, 0.52, 0.61, 0.58])}
TUNED = {k: v + d for (k, v), d in zip(BASE.items(), [0.05, 0.04, -0.01, 0.06, 0.03, 0.02, 0.05, 0.0, 0.04, 0.03])}


def write_run(root, scores, **settings):
    for domain in ("pharma", "traffic"):
        write_cell(root, {k: v for k, v in scores.items() if k.startswith(domain)}, task=f"reportbench_{domain}_d", **settings)
    return root


def compare(tmp_path, *args):
    return run_cli(["reportbench", "compare", *map(str, args)], tmp_path)


def row(markdown, label, metric):
    line = next(text for text in markdown.splitlines() if text.startswith(f"| {label} ") and f"| {metric} " in text)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_compare_reports_the_paired_statistics_of_base_against_adapter(tmp_path):
    base = write_run(tmp_path / "runs", BASE, model="base")
    write_run(tmp_path / "runs", TUNED, model="base+lora", peft="/adapters/lora")
    out = tmp_path / "cmp.md"
    result = compare(tmp_path, base / "base", base / "base+lora", "--out", out)
    assert result.returncode == 0, result.stderr
    expected = paired_difference(list(BASE.values()), list(TUNED.values()))
    cells = row(result.stdout, "all", "bi_encoder_cosine")
    assert cells[2:] == [f"{expected['mean_a']:.4f}", f"{expected['mean_b']:.4f}", f"{expected['mean_diff']:+.4f}",
                         f"[{expected['ci_low']:+.4f}, {expected['ci_high']:+.4f}]", f"{expected['wilcoxon_p']:.3f}", "8", "1", "1", "10"]
    assert expected["wilcoxon_p"] < 0.05 and expected["ci_low"] > 0 and "**B is better than A**" in result.stdout
    pharma = row(result.stdout, "pharma", "bi_encoder_cosine")
    assert pharma[-1] == "5" and pharma[4] == f"{np.mean([0.05, 0.04, -0.01, 0.06, 0.03]):+.4f}"
    assert out.read_text().strip() == result.stdout.strip()


def test_verdict_needs_both_tests():
    from reportbench.compare import verdict

    base = {"mean_diff": 0.1, "n": 4, "wins": 4, "losses": 0}
    assert "**B is better than A**" in verdict("bi_encoder_cosine", base | {"ci_low": 0.05, "ci_high": 0.2, "wilcoxon_p": 0.01})
    assert "**B is worse than A**" in verdict("hallucinated_facts", base | {"ci_low": 0.05, "ci_high": 0.2, "wilcoxon_p": 0.01})
    assert "**inconclusive**" in verdict("bi_encoder_cosine", base | {"ci_low": 0.05, "ci_high": 0.2, "wilcoxon_p": 0.125})
    assert "**no clear difference**" in verdict("bi_encoder_cosine", base | {"ci_low": -0.05, "ci_high": 0.2, "wilcoxon_p": 0.4})


def test_refuses_runs_on_different_cases(tmp_path):
    a = write_run(tmp_path / "a", BASE)
    b = write_run(tmp_path / "b", {k: v for k, v in TUNED.items() if k != "traffic-003"} | {"traffic-099": 0.5})
    result = compare(tmp_path, a, b)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "A and B ran different cases (9 shared; 1 only in A: traffic/traffic-003; 1 only in B: traffic/traffic-099)" in result.stderr


def test_refuses_runs_whose_references_differ(tmp_path):
    a = write_run(tmp_path / "a", BASE)
    b = write_run(tmp_path / "b", TUNED, reference="other data")
    result = compare(tmp_path, a, b)
    assert result.returncode == 2 and "has a different reference in A and B" in result.stderr


def test_a_run_with_several_configs_must_be_narrowed_to_match_the_other(tmp_path):
    runs = write_run(tmp_path / "runs", BASE)
    write_run(runs, TUNED, temperature=1.0, top_p=0.6)
    single = write_run(tmp_path / "single", BASE)
    ambiguous = compare(tmp_path, runs, single)
    assert ambiguous.returncode == 2 and "holds 2 configurations per domain" in ambiguous.stderr and "--select-a" in ambiguous.stderr
    chosen = compare(tmp_path, runs, runs, "--select-a", "temperature=0", "--select-b", "temperature=1", "--select-b", "top_p=0.6")
    assert chosen.returncode == 0, chosen.stderr
    assert "D · greedy · 300 tok" in chosen.stdout and "D · T=1 top_p=0.6 top_k=50 · 300 tok" in chosen.stdout
    assert row(chosen.stdout, "all", "bi_encoder_cosine")[-4:] == ["8", "1", "1", "10"]
    mismatched = compare(tmp_path, runs, runs, "--select-b", "temperature=1")
    assert mismatched.returncode == 2 and "holds 2 configurations per domain" in mismatched.stderr
    bad = compare(tmp_path, runs, runs, "--where", "prompt")
    assert bad.returncode == 2 and "expected KEY=VALUE" in bad.stderr


def test_two_models_pair_over_every_configuration_they_share(tmp_path):
    """Base against fine-tuned over a whole grid slice: one pair per case and configuration."""
    runs = tmp_path / "runs"
    for prompt in ("a", "d"):
        for domain in ("pharma", "traffic"):
            write_cell(runs, {k: v for k, v in BASE.items() if k.startswith(domain)}, model="base", task=f"reportbench_{domain}_{prompt}")
            write_cell(runs, {k: v for k, v in TUNED.items() if k.startswith(domain)}, model="tuned", task=f"reportbench_{domain}_{prompt}")
    both = compare(tmp_path, runs, runs, "--select-a", "model=base", "--select-b", "model=tuned")
    assert both.returncode == 0, both.stderr
    # Overall: a case's two prompts are averaged, so there are 10 pairs, not 20.
    assert row(both.stdout, "all", "bi_encoder_cosine")[-4:] == ["8", "1", "1", "10"]
    assert "By configuration (`bi_encoder_cosine`):" in both.stdout and row(both.stdout, "A · greedy · 300 tok", "bi_encoder_cosine")[-1] == "10"
    mixed = compare(tmp_path, runs, runs)
    assert mixed.returncode == 2 and "holds 2 models for" in mixed.stderr and "model=NAME" in mixed.stderr
    fewer = compare(tmp_path, runs, runs, "--select-a", "model=base", "--select-b", "model=tuned", "--select-b", "prompt=A")
    assert fewer.returncode == 2 and "holds 2 configurations per domain" in fewer.stderr


def test_seeds_are_averaged_per_case(tmp_path):
    a = write_run(tmp_path / "a", BASE)
    b = tmp_path / "b"
    write_run(b, {k: v + 0.1 for k, v in BASE.items()}, temperature=1.0, seed=0)
    write_run(b, {k: v - 0.1 for k, v in BASE.items()}, temperature=1.0, seed=1)
    result = compare(tmp_path, a, b)
    assert result.returncode == 0, result.stderr
    assert row(result.stdout, "all", "bi_encoder_cosine")[4] == "+0.0000"
    assert "no clear difference" in result.stdout
    assert re.search(r"\| B +\| .* \| 10 +\| 2 +\|", result.stdout)  # 10 cases, 2 seeds


def test_all_metrics_and_metric_choice(tmp_path):
    a = write_run(tmp_path / "a", BASE)
    b = write_run(tmp_path / "b", TUNED)
    every = compare(tmp_path, a, b, "--all-metrics")
    assert every.returncode == 0 and "| hallucinated_facts ↓" in every.stdout and "| words" not in every.stdout
    # the default ranking metric (here bi_encoder_cosine: these samples have no fact_recall) comes first, and the verdict
    # and the published audit's word on it are about it
    first_row = next(line for line in every.stdout.splitlines() if line.startswith("| all "))
    assert "| bi_encoder_cosine ↑" in first_row and "On `bi_encoder_cosine`" in every.stdout
    assert "Validity of `bi_encoder_cosine` with the default metric models" in every.stdout
    one = compare(tmp_path, a, b, "--metric", "rougeL")
    assert one.returncode == 0 and "| rougeL ↑" in one.stdout and "bi_encoder_cosine" not in one.stdout.split("# Paired")[1].split("Per case")[0]
    bad = compare(tmp_path, a, b, "--metric", "cross_encoder")
    assert bad.returncode == 2 and "not in every sample of both runs" in bad.stderr
