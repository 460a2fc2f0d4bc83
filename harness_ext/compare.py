"""`reportbench compare RUN_A RUN_B`: B against A, case by case, as markdown.

Each run is reduced to one score per case (seeds averaged); the cases must be the same on both
sides, with the same references, or the comparison is refused.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reportbench.labels import config_label, markdown_table, p_value
from reportbench.metrics import METRICS
from reportbench.metrics.confidence import PAIRED_SETTINGS, paired_difference
from reportbench.primary import choose_primary, higher_is_better
from reportbench.runs import Runs, RunsError, load_runs, parse_conditions


@dataclass
class Side:
    name: str
    path: str
    runs: Runs
    scores: pd.DataFrame  # index (domain, setting, case_id); metric columns; target_hash
    several: bool  # several configurations per domain: pairs are then (configuration, case)

    def describe(self) -> list[str]:
        cells = self.runs.cells.copy()
        cells["config"] = cells.apply(config_label, axis=1)
        cases = self.scores.index.droplevel("setting").unique()
        return [self.name, f"`{self.path}`", ", ".join(sorted(cells["model"].unique())), "; ".join(sorted(cells["config"].unique())),
                str(len(cases)), str(cells["seed"].nunique()), ", ".join(sorted(cells["domain"].unique()))]


def _per_case(name: str, path: str, runs: Runs) -> Side:
    joined = runs.joined()
    joined["setting"] = joined.apply(config_label, axis=1)
    models = joined.groupby(["domain", "setting"])["model"].unique()
    if (models.map(len) > 1).any():
        (domain, setting), names = next((k, v) for k, v in models.items() if len(v) > 1)
        raise RunsError(f"run {name} ({path}) holds {len(names)} models for {setting} on {domain} ({', '.join(sorted(names))}): "
                        f"narrow it with --select-{name.lower()} model=NAME")
    several = bool((joined.groupby("domain")["setting"].nunique() > 1).any())
    if not several:
        joined["setting"] = ""  # one configuration per domain: cases pair whatever the settings
    references = joined.groupby(["domain", "case_id"])["target_hash"].nunique()
    if (references > 1).any():
        case = references[references > 1].index[0]
        raise RunsError(f"run {name} ({path}) has two different references for case {case[1]} ({case[0]})")
    metrics = [m for m in runs.metrics if joined[m].notna().all()]
    scores = joined.groupby(["domain", "setting", "case_id"]).agg({**{m: "mean" for m in metrics}, "target_hash": "first"})
    return Side(name, path, runs, scores, several)


def _settings(side: Side) -> list[str]:
    return sorted(side.scores.index.get_level_values("setting").unique())


def pair(a: Side, b: Side) -> None:
    """Refuses sides that did not run the same cases (and configurations) with the same references."""
    if a.several != b.several:
        many, one = (a, b) if a.several else (b, a)
        raise RunsError(f"run {many.name} ({many.path}) holds {len(_settings(many))} configurations per domain "
                        f"({'; '.join(_settings(many))}) and run {one.name} one: narrow {many.name} with "
                        f"--select-{many.name.lower()} KEY=VALUE (e.g. prompt=D, temperature=0), or pass one cell folder")
    if a.several and _settings(a) != _settings(b):
        raise RunsError(f"A and B hold different configurations (A: {'; '.join(_settings(a))}; B: {'; '.join(_settings(b))}); "
                        "pairs need the same configurations on both sides: narrow them with --where / --select-a / --select-b")
    only_a = a.scores.index.difference(b.scores.index)
    only_b = b.scores.index.difference(a.scores.index)
    if len(only_a) or len(only_b):
        def examples(index):
            return ", ".join(f"{d}/{c}" for d, _, c in list(index)[:5]) + (" …" if len(index) > 5 else "")
        shared = len(a.scores.index.intersection(b.scores.index))
        raise RunsError(
            f"A and B ran different cases ({shared} shared; {len(only_a)} only in A{': ' + examples(only_a) if len(only_a) else ''}; "
            f"{len(only_b)} only in B{': ' + examples(only_b) if len(only_b) else ''}). A paired comparison needs the same cases: "
            "run both on the same split, data file and --limit")
    aligned = b.scores.reindex(a.scores.index)
    differs = a.scores["target_hash"] != aligned["target_hash"]
    if differs.any():
        domain, _, case = a.scores.index[differs.to_numpy()][0]
        raise RunsError(f"case {case} ({domain}) has a different reference in A and B: the runs used different data files")


def _row(label: str, metric: str, stats: dict) -> list[str]:
    return [label, f"{metric} {METRICS[metric].arrow}", f"{stats['mean_a']:.4f}", f"{stats['mean_b']:.4f}",
            f"{stats['mean_diff']:+.4f}", f"[{stats['ci_low']:+.4f}, {stats['ci_high']:+.4f}]", p_value(stats["wilcoxon_p"]),
            str(stats["wins"]), str(stats["ties"]), str(stats["losses"]), str(stats["n"])]


def verdict(metric: str, stats: dict, alpha: float = 0.05) -> str:
    """'Better' or 'worse' only when the bootstrap CI excludes 0 and the Wilcoxon test rejects too."""
    up = higher_is_better(metric)
    summary = (f"(B − A = {stats['mean_diff']:+.4f}, 95% CI [{stats['ci_low']:+.4f}, {stats['ci_high']:+.4f}], "
               f"Wilcoxon p = {p_value(stats['wilcoxon_p'])}; B better on {stats['wins']} of {stats['n']} cases, worse on {stats['losses']})")
    ci_excludes_zero = stats["ci_low"] > 0 or stats["ci_high"] < 0
    rejected = stats["wilcoxon_p"] < alpha
    if ci_excludes_zero and rejected:
        better = (stats["mean_diff"] > 0) == up
        return f"On `{metric}`, **B is {'better' if better else 'worse'} than A** {summary}."
    if ci_excludes_zero or rejected:
        # They test different things: the mean difference, and whether differences lean one way by rank.
        return (f"On `{metric}`, **inconclusive**: the bootstrap CI of the mean difference and the Wilcoxon rank test "
                f"disagree at the {1 - alpha:.0%} level {summary}.")
    return f"On `{metric}`, **no clear difference**: the 95% CI includes 0 {summary}."


def compare(a: Side, b: Side, metrics: list[str], resamples: int, seed: int, tie_margin: float) -> str:
    pair(a, b)
    b_scores = b.scores.reindex(a.scores.index)
    # The case is the unit: a case's configurations are averaged for the overall and per-domain rows,
    # so several prompts of one case do not count as independent evidence.
    by_case = ["domain", "case_id"]
    a_case = a.scores[metrics].groupby(level=by_case).mean()
    b_case = b_scores[metrics].groupby(level=by_case).mean()
    headers = ["", "metric", "mean A", "mean B", "B − A", "95% CI (paired bootstrap)", "Wilcoxon p", "B wins", "ties", "B losses", "n"]

    def stats_of(a_values, b_values, metric):
        return paired_difference(a_values, b_values, higher_is_better(metric), resamples, seed, tie_margin)

    rows, first = [], None
    for metric in metrics:
        stats = stats_of(a_case[metric], b_case[metric], metric)
        first = first or (metric, stats)
        rows.append(_row("all", metric, stats))
    breakdowns = []
    for level, title, a_frame, b_frame in (("domain", "By domain", a_case, b_case), ("setting", "By configuration", a.scores, b_scores)):
        groups = sorted(a_frame.index.get_level_values(level).unique())
        if len(groups) < 2:
            continue
        metric, rows_of_level = metrics[0], []
        for group in groups:
            mask = a_frame.index.get_level_values(level) == group
            rows_of_level.append(_row(group, metric, stats_of(a_frame[metric][mask], b_frame[metric][mask], metric)))
        breakdowns += [f"{title} (`{metric}`):", "", markdown_table(pd.DataFrame(rows_of_level, columns=headers)), ""]
    lines = [
        "# Paired comparison: B against A",
        "",
        markdown_table(pd.DataFrame([a.describe(), b.describe()], columns=["run", "path", "model", "configuration(s)", "cases", "seeds", "domains"])),
        "",
        verdict(*first),
        "",
        markdown_table(pd.DataFrame(rows, columns=headers)),
        "",
    ]
    lines += breakdowns
    lines += [
        f"One pair per case, seeds{' and configurations' if a.several else ''} averaged"
        f"{' (one pair per case and configuration in the per-configuration rows)' if a.several else ''}. Difference: {PAIRED_SETTINGS['difference']}. CI: {PAIRED_SETTINGS['ci']} "
        f"({resamples} resamples, seed {seed}). p: {PAIRED_SETTINGS['p_value']}. "
        f"Wins/ties/losses in each metric's better direction (↑ higher, ↓ lower), tie when |B − A| ≤ {tie_margin:g}.",
        "",
    ]
    return "\n".join(lines)


def choose_metrics(a: Side, b: Side, requested: list[str] | None, all_metrics: bool) -> list[str]:
    shared = [m for m in a.scores.columns if m in b.scores.columns and m in METRICS]
    if all_metrics:
        return [m for m in shared if METRICS[m].higher_is_better is not None]
    if requested:
        for metric in requested:
            if metric not in METRICS:
                raise RunsError(f"unknown metric {metric!r}; available: {', '.join(METRICS)}")
            if metric not in shared:
                raise RunsError(f"metric {metric!r} is not in every sample of both runs; available: {', '.join(shared)}")
            higher_is_better(metric)
        return list(requested)
    both = Runs(a.runs.cells, pd.concat([a.runs.samples, b.runs.samples]))
    metric, _ = choose_primary(both.complete_metrics, None)
    return [metric]


def main(args) -> int:
    try:
        where = parse_conditions(args.where, "--where")
        sides = []
        skipped: list[str] = []
        for name, path, option in (("A", args.run_a, args.select_a), ("B", args.run_b, args.select_b)):
            runs = load_runs(path)
            conditions = where | parse_conditions(option, f"--select-{name.lower()}")
            if conditions:
                runs = runs.select(conditions)
            runs.require_whole(args.skip_damaged)
            skipped += [f"{name}: {d.line()}" for d in runs.damaged]
            if runs.cells.empty:
                raise RunsError(f"run {name} ({path}): no cells match {conditions}")
            sides.append(_per_case(name, path, runs))
        metrics = choose_metrics(*sides, args.metric, args.all_metrics)
        markdown = compare(*sides, metrics, args.resamples, args.seed, args.tie_margin)
        if skipped:
            markdown += ("\n\nSkipped with `--skip-damaged` (damaged cells and stray files):\n\n"
                         + "\n".join(f"- `{line}`" for line in skipped) + "\n")
    except RunsError as err:
        print(f"reportbench compare: {err}", file=sys.stderr)
        return 2
    print(markdown)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(markdown, encoding="utf-8")
        print(f"reportbench: wrote {args.out}", file=sys.stderr)
    return 0
