"""`reportbench compare RUN_A RUN_B`: B against A, case by case, as markdown.

Each run is reduced to one score per case (seeds averaged); the cases must be the same on both
sides, with the same references, or the comparison is refused.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reportbench.audit import validity_sentence
from reportbench.labels import config_label, markdown_table, p_value
from reportbench.metrics import METRICS
from reportbench.metrics.confidence import PAIRED_SETTINGS, holm, paired_difference
from reportbench.primary import choose_primary, higher_is_better
from reportbench.runs import TAG_PREFIX, Runs, RunsError, load_runs, parse_conditions, tag_value


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


HEADERS = ["", "metric", "mean A", "mean B", "B − A", "95% CI (paired bootstrap)", "Wilcoxon p", "Holm p", "B wins", "ties",
           "B losses", "n"]


def _row(label: str, metric: str, stats: dict, holm_p: float) -> list[str]:
    return [label, f"{metric} {METRICS[metric].arrow}", f"{stats['mean_a']:.4f}", f"{stats['mean_b']:.4f}",
            f"{stats['mean_diff']:+.4f}", f"[{stats['ci_low']:+.4f}, {stats['ci_high']:+.4f}]", p_value(stats["wilcoxon_p"]),
            p_value(holm_p), str(stats["wins"]), str(stats["ties"]), str(stats["losses"]), str(stats["n"])]


def stats_table(labelled: list[tuple[str, str, dict]]) -> pd.DataFrame:
    """(label, metric, paired stats) rows as a table; Holm-adjusted p over the rows when there are several."""
    adjusted = holm([stats["wilcoxon_p"] for _, _, stats in labelled])
    table = pd.DataFrame([_row(*row, p) for row, p in zip(labelled, adjusted)], columns=HEADERS)
    return table if len(labelled) > 1 else table.drop(columns="Holm p")


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


def _validity(metric: str) -> list[str]:
    """What the published audit says about ``metric`` (a paragraph), or nothing when it was not audited."""
    sentence = validity_sentence(metric)
    return [sentence, ""] if sentence else []


def compare(a: Side, b: Side, metrics: list[str], resamples: int, seed: int, tie_margin: float) -> str:
    pair(a, b)
    b_scores = b.scores.reindex(a.scores.index)
    # The case is the unit: a case's configurations are averaged for the overall and per-domain rows,
    # so several prompts of one case do not count as independent evidence.
    by_case = ["domain", "case_id"]
    a_case = a.scores[metrics].groupby(level=by_case).mean()
    b_case = b_scores[metrics].groupby(level=by_case).mean()
    def stats_of(a_values, b_values, metric):
        return paired_difference(a_values, b_values, higher_is_better(metric), resamples, seed, tie_margin)

    rows, first = [], None
    for metric in metrics:
        stats = stats_of(a_case[metric], b_case[metric], metric)
        first = first or (metric, stats)
        rows.append(("all", metric, stats))
    breakdowns = []
    for level, title, a_frame, b_frame in (("domain", "By domain", a_case, b_case), ("setting", "By configuration", a.scores, b_scores)):
        groups = sorted(a_frame.index.get_level_values(level).unique())
        if len(groups) < 2:
            continue
        metric, rows_of_level = metrics[0], []
        for group in groups:
            mask = a_frame.index.get_level_values(level) == group
            rows_of_level.append((group, metric, stats_of(a_frame[metric][mask], b_frame[metric][mask], metric)))
        breakdowns += [f"{title} (`{metric}`):", "", markdown_table(stats_table(rows_of_level)), ""]
    lines = [
        "# Paired comparison: B against A",
        "",
        markdown_table(pd.DataFrame([a.describe(), b.describe()], columns=["run", "path", "model", "configuration(s)", "cases", "seeds", "domains"])),
        "",
        verdict(*first),
        "",
        *_validity(first[0]),
        markdown_table(stats_table(rows)),
        "",
    ]
    lines += breakdowns
    lines += [
        f"One pair per case, seeds{' and configurations' if a.several else ''} averaged"
        f"{' (one pair per case and configuration in the per-configuration rows)' if a.several else ''}. Difference: {PAIRED_SETTINGS['difference']}. CI: {PAIRED_SETTINGS['ci']} "
        f"({resamples} resamples, seed {seed}). p: {PAIRED_SETTINGS['p_value']}; Holm p: adjusted over the rows of its table "
        "(statsmodels multipletests, method='holm'), shown where a table has several. "
        f"Wins/ties/losses in each metric's better direction (↑ higher, ↓ lower), tie when |B − A| ≤ {tie_margin:g}.",
        "",
    ]
    return "\n".join(lines)


def tag_steps(runs: Runs, tag: str) -> list[float]:
    """The numeric values a model tag takes among the runs, in order (e.g. training_cases 0, 20, 40, ...)."""
    values = set()
    for text in runs.cells["tags"]:
        value = tag_value(text, tag)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RunsError(f"tag {tag!r} has the non-numeric value {value!r}: steps need numbers")
        values.add(value)
    if len(values) < 2:
        raise RunsError(f"steps need at least two values of the model tag {tag!r} among the runs; found {sorted(values) or 'none'}")
    return sorted(values)


def step_sides(runs: Runs, path: str, tag: str) -> list[tuple[Side, Side]]:
    """(A, B) for each pair of neighbouring values of a model tag: the runs tagged with each, paired case by case."""
    values = tag_steps(runs, tag)
    sides = [_per_case(f"{tag}={_plain(v)}", path, runs.select({TAG_PREFIX + tag: str(v)})) for v in values]
    pairs = list(zip(sides, sides[1:]))
    for a, b in pairs:
        if a.several != b.several or (a.several and _settings(a) != _settings(b)):
            raise RunsError(f"{a.name} ran {'; '.join(_settings(a)) or 'one configuration'} and {b.name} ran "
                            f"{'; '.join(_settings(b)) or 'one configuration'}: steps pair the same configurations; "
                            "narrow the runs with --where KEY=VALUE (e.g. structured_output=none)")
        pair(a, b)
    return pairs


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def steps_rows(pairs: list[tuple[Side, Side]], metric: str, resamples: int, seed: int, tie_margin: float) -> pd.DataFrame:
    """One row per step (B = the next tag value against A): paired difference on ``metric``, Holm over the steps."""
    labelled = []
    for a, b in pairs:
        a_case = a.scores[metric].groupby(level=["domain", "case_id"]).mean()
        b_case = b.scores[metric].reindex(a.scores.index).groupby(level=["domain", "case_id"]).mean()
        models = f"{', '.join(sorted(a.runs.cells['model'].unique()))} → {', '.join(sorted(b.runs.cells['model'].unique()))}"
        stats = paired_difference(a_case, b_case, higher_is_better(metric), resamples, seed, tie_margin)
        labelled.append((f"{a.name} → {b.name.split('=', 1)[1]} ({models})", metric, stats))
    return stats_table(labelled)


def compare_steps(runs: Runs, path: str, tag: str, metrics: list[str] | None, resamples: int, seed: int, tie_margin: float) -> str:
    pairs = step_sides(runs, path, tag)
    if not metrics:
        metrics = [choose_primary(runs.complete_metrics, None)[0]]
    lines = [f"# Paired comparison between neighbouring values of `{tag}`", ""]
    for metric in metrics:
        lines += [f"`{metric}`:", "", markdown_table(steps_rows(pairs, metric, resamples, seed, tie_margin)), "", *_validity(metric)]
    lines += [f"Each row: the runs tagged with the next value (B) against the runs tagged with the one before (A), "
              f"one pair per case (configurations and seeds of a case averaged); both sides ran the same configurations "
              f"and cases. CI: {PAIRED_SETTINGS['ci']} ({resamples} resamples, seed {seed}). p: {PAIRED_SETTINGS['p_value']}; "
              "Holm p: adjusted over the steps of the table (statsmodels multipletests, method='holm').", ""]
    return "\n".join(lines)


def _default_metric(a: Side, b: Side) -> str:
    """The default ranking metric over the samples of both sides (RunsError when none is complete)."""
    return choose_primary(Runs(a.runs.cells, pd.concat([a.runs.samples, b.runs.samples])).complete_metrics, None)[0]


def choose_metrics(a: Side, b: Side, requested: list[str] | None, all_metrics: bool) -> list[str]:
    shared = [m for m in a.scores.columns if m in b.scores.columns and m in METRICS]
    if all_metrics:  # every score metric, the default ranking metric first: the verdict and breakdowns are about it
        scored = [m for m in shared if METRICS[m].higher_is_better is not None]
        try:
            default = _default_metric(a, b)
        except RunsError:
            return scored
        return sorted(scored, key=lambda m: m != default)
    if requested:
        for metric in requested:
            if metric not in METRICS:
                raise RunsError(f"unknown metric {metric!r}; available: {', '.join(METRICS)}")
            if metric not in shared:
                raise RunsError(f"metric {metric!r} is not in every sample of both runs; available: {', '.join(shared)}")
            higher_is_better(metric)
        return list(requested)
    return [_default_metric(a, b)]


def _steps_main(args) -> str:
    if args.run_b is not None or args.select_a or args.select_b:
        raise RunsError("--steps compares within one RUNS folder: give no RUN_B, --select-a or --select-b (use --where)")
    runs = load_runs(args.run_a)
    where = parse_conditions(args.where, "--where")
    if where:
        runs = runs.select(where)
    runs.require_whole(args.skip_damaged)
    for metric in args.metric or []:
        if metric not in runs.complete_metrics:
            raise RunsError(f"metric {metric!r} is not in every sample; available: {', '.join(runs.complete_metrics)}")
        higher_is_better(metric)
    return compare_steps(runs, args.run_a, args.steps, args.metric, args.resamples, args.seed, args.tie_margin)


def main(args) -> int:
    try:
        if args.steps:
            return _write(_steps_main(args), args.out)
        if args.run_b is None:
            raise RunsError("RUN_B is missing: compare two runs (RUN_A RUN_B), or one RUNS folder along a model tag with --steps TAG")
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
    return _write(markdown, args.out)


def _write(markdown: str, out: str | None) -> int:
    print(markdown)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(markdown, encoding="utf-8")
        print(f"reportbench: wrote {out}", file=sys.stderr)
    return 0
