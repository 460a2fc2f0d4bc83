"""What a leaderboard page says about each model beyond its rank: every mean with n and a 95% CI,
failure modes, the worst cases, and a learning curve over a numeric model tag.

Everything here reads a `Runs` (cells + samples) and the per-configuration aggregates of
`leaderboard.aggregate`; the case is the unit throughout (a case's seeds are averaged first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reportbench.labels import markdown_table
from reportbench.metrics import METRICS
from reportbench.metrics.base import is_missing
from reportbench.metrics.confidence import summarize
from reportbench.primary import higher_is_better
from reportbench.runs import PREDICTION, TAG_PREFIX, Runs, tag_value

# The headline table's columns besides the primary metric (the rest go to the second table).
HEADLINE_METRICS = ("fact_recall", "hallucinated_facts", "json_valid")
LEARNING_TAG = "training_cases"
FAMILY_TAG = "family"
WORST_CASES = 3
# Metric values quoted beside each worst case (those the runs have).
WORST_CASE_METRICS = ("fact_recall", "hallucinated_facts", "bi_encoder_cosine", "rougeL", "json_valid", "words")


@dataclass(frozen=True)
class FailureMode:
    name: str
    description: str
    metric: str  # the per-sample metric it is read from

    def flag(self, value: float) -> float:
        return {"json_valid": lambda v: float(v == 0), "preamble": lambda v: float(v == 1),
                "single_paragraph": lambda v: float(v == 0), "hallucinated_facts": lambda v: float(v > 0),
                "fact_recall": lambda v: float(v < 0.5)}[self.metric](value)


FAILURE_MODES = (
    FailureMode("invalid JSON", "the answer is not one JSON object with a title and a report (json_valid = 0)", "json_valid"),
    FailureMode("preamble", "the report opens with a chat preamble (\"Sure, here is ...\")", "preamble"),
    FailureMode("several paragraphs", "the report is not one paragraph (single_paragraph = 0)", "single_paragraph"),
    FailureMode("hallucinated fact", "at least one date, time, number, ID or name that the key fields do not hold", "hallucinated_facts"),
    FailureMode("fact recall < 0.5", "fewer than half of the reference's facts are in the report", "fact_recall"),
)
JUDGE_FAILURE = "judge answer unreadable"


def ci_text(stats: dict, digits: int = 3) -> str:
    """'0.712 [0.680, 0.741]' (or '—' without values)."""
    if is_missing(stats["mean"]):
        return "—"
    return f"{stats['mean']:.{digits}f} [{stats['ci_low']:.{digits}f}, {stats['ci_high']:.{digits}f}]"


def per_case(rows: pd.DataFrame, column: str) -> pd.Series:
    """One value per case (its seeds averaged); missing values are left out, not counted as 0."""
    return rows.dropna(subset=[column]).groupby(["domain", "case_id"])[column].mean()


def case_stats(rows: pd.DataFrame, column: str) -> dict:
    return summarize(per_case(rows, column).to_numpy())


def best_configs(agg) -> pd.DataFrame:
    """Each model's best complete configuration (its first row: configs are sorted best first), best model first."""
    best = agg.configs.groupby("model", sort=False).head(1)
    ascending = not higher_is_better(agg.metric)
    return best.sort_values(["mean", "model"], ascending=[ascending, True], kind="stable").reset_index(drop=True)


def config_rows(runs: Runs, config: pd.Series) -> pd.DataFrame:
    """The samples of one aggregated configuration, with their cell's settings."""
    joined = runs.joined()
    return joined[joined["cell"].isin(config["cells"].split(", "))]


def _parameters(value) -> str:
    return "—" if is_missing(value) else f"{value / 1e6:.1f}M"


def _speed(value, digits: int) -> str:
    return "—" if is_missing(value) else f"{value:.{digits}f}"


def headline_table(runs: Runs, agg) -> pd.DataFrame:
    """Rank, model, best config, the primary metric and the few columns a reader needs first, each mean with its CI."""
    best = best_configs(agg)
    domains = sorted(runs.cells["domain"].unique())
    rows = []
    for rank, (_, config) in enumerate(best.iterrows(), 1):
        samples = config_rows(runs, config)
        row = {"rank": str(rank), "model": config["model"], "best config": config["config"],
               f"{agg.metric} {METRICS[agg.metric].arrow} (95% CI)": ci_text(config), "n": str(config["cases"])}
        for domain in domains:
            stats = case_stats(samples[samples["domain"] == domain], agg.metric)
            row[f"{domain} (n)"] = f"{ci_text(stats)} ({stats['n']})"
        for metric in HEADLINE_METRICS:
            if metric in runs.metrics and metric != agg.metric:
                row[f"{metric} {METRICS[metric].arrow}"] = ci_text(case_stats(samples, metric))
        row |= {"parameters": _parameters(config["parameters"]), "tokens/s": _speed(config["tokens_per_second"], 1)}
        rows.append(row)
    return pd.DataFrame(rows)


def all_metrics_table(runs: Runs, agg) -> pd.DataFrame:
    """Every other metric of each model's best configuration, mean [95% CI] over the same cases."""
    best = best_configs(agg)
    shown = {agg.metric, *HEADLINE_METRICS}
    metrics = [m for m in METRICS if m in runs.metrics and m not in shown]
    rows = []
    for _, config in best.iterrows():
        samples = config_rows(runs, config)
        row = {"model": config["model"], "n": str(config["cases"])}
        for metric in metrics:
            stats = case_stats(samples, metric)
            digits = 1 if metric == "words" else 3
            # a metric some cases lack (an unreadable judge answer) says on how many cases it stands
            row[f"{metric} {METRICS[metric].arrow}".strip()] = ci_text(stats, digits) + (
                f" (n={stats['n']})" if stats["n"] != config["cases"] else "")
        row["latency s/sample"] = _speed(config["latency_seconds"], 2)
        rows.append(row)
    return pd.DataFrame(rows)


def failure_table(runs: Runs, agg) -> pd.DataFrame:
    """Share of cases (seeds averaged) showing each failure mode, per model at its best configuration."""
    best = best_configs(agg)
    rows = []
    for _, config in best.iterrows():
        samples = config_rows(runs, config).copy()
        row = {"model": config["model"], "best config": config["config"], "n": str(config["cases"])}
        for mode in FAILURE_MODES:
            if mode.metric not in samples.columns or samples[mode.metric].isna().all():
                row[mode.name] = "—"
                continue
            samples[mode.name] = samples[mode.metric].map(lambda v, mode=mode: None if is_missing(v) else mode.flag(v))
            row[mode.name] = ci_text(case_stats(samples, mode.name), 2)
        row[JUDGE_FAILURE] = _judge_failures(runs, samples)
        rows.append(row)
    return pd.DataFrame(rows)


def _judge_failures(runs: Runs, samples: pd.DataFrame) -> str:
    judged = runs.cells[runs.cells["cell"].isin(samples["cell"]) & runs.cells["judge"].notna()]["cell"]
    if judged.empty or "judge_overall" not in samples.columns:
        return "— (no judge ran)"
    rows = samples[samples["cell"].isin(judged)].copy()
    rows["unreadable"] = rows["judge_overall"].map(lambda v: float(is_missing(v)))
    return ci_text(case_stats(rows, "unreadable"), 2)


def _case_fields(domain: str, case_id: str, split: str, digest) -> dict | None:
    """The packaged case behind a sample, when the runs used the packaged data (else None: not recorded)."""
    from reportbench.cases import select_cases
    from reportbench.digests import packaged_data_digest

    if digest != packaged_data_digest(domain) or split not in ("dev", "test"):
        return None
    return next((case for case in select_cases(domain, split) if case["id"] == case_id), None)


def _fence(text: str) -> list[str]:
    fence = "~~~~" if "```" in text else "```"
    return [f"{fence}text", text if text.strip() else "(empty generation)", fence]


def worst_cases(runs: Runs, agg, count: int = WORST_CASES) -> list[str]:
    """Markdown: per model at its best configuration, the ``count`` cases with the worst primary score."""
    from reportbench.metrics.schema import KEY_FIELDS

    lines = []
    ascending = higher_is_better(agg.metric)  # worst first
    for _, config in best_configs(agg).iterrows():
        samples = config_rows(runs, config)
        worst = per_case(samples, agg.metric).sort_index().sort_values(ascending=ascending, kind="stable").head(count)
        lines += [f"### {config['model']} · {config['config']}", ""]
        for (domain, case_id), score in worst.items():
            rows = samples[(samples["domain"] == domain) & (samples["case_id"] == case_id)]
            sample = rows.sort_values([agg.metric, "seed"], ascending=[ascending, True], kind="stable").iloc[0]
            cell = runs.cells[runs.cells["cell"] == sample["cell"]].iloc[0]
            values = "; ".join(f"{m} {sample[m]:.3f}" if m != "words" else f"{m} {sample[m]:.0f}"
                               for m in WORST_CASE_METRICS if m != agg.metric and m in sample.index and not is_missing(sample[m]))
            lines += [f"**{case_id}** ({domain}): `{agg.metric}` {score:.3f}" + (f" (mean of {len(rows)} seeds)" if len(rows) > 1 else "")
                      + (f"; {values}" if values else ""), ""]
            case = _case_fields(domain, case_id, str(cell["split"]), cell["data_sha256"])
            if case is None:
                lines += ["Key fields and reference: not on this page (the case is not in the packaged data this run used).", ""]
            else:
                lines += ["Key fields:", "", *(f"- {field}: {case[field]}" for field in KEY_FIELDS), "",
                          f"Reference: *{case['report_name']}*. {case['event_description']}", ""]
            if isinstance(sample[PREDICTION], str):
                lines += [f"Prediction (raw generation, seed {int(sample['seed'])}):", "", *_fence(sample[PREDICTION]), ""]
            else:
                lines += ["Prediction: not in this page's data (exported before pages kept generations).", ""]
    return lines


# ---------------------------------------------------------------- learning curve


def tagged(runs: Runs, tag: str = LEARNING_TAG) -> bool:
    """Whether any cell's model carries a numeric value of ``tag``."""
    return any(isinstance(tag_value(t, tag), (int, float)) and not isinstance(tag_value(t, tag), bool) for t in runs.cells["tags"])


def families(runs: Runs, tag: str = LEARNING_TAG) -> dict[str, Runs]:
    """The runs of each family (the `family` tag; one unnamed family without it) whose models carry ``tag``."""
    cells = runs.cells[runs.cells["tags"].map(lambda t: tag_value(t, tag) is not None)]
    names = cells["tags"].map(lambda t: tag_value(t, FAMILY_TAG) or "")
    out = {}
    for name in sorted(names.unique()):
        selected = cells[names == name]
        out[name or "all"] = Runs(selected.reset_index(drop=True), runs.samples[runs.samples["cell"].isin(selected["cell"])].reset_index(drop=True))
    return out


def curve_points(runs: Runs, agg, tag: str = LEARNING_TAG) -> pd.DataFrame:
    """family, config, tag value, model, mean, CI, n: configurations that every size of a family ran."""
    rows = []
    for family, part in families(runs, tag).items():
        sizes = part.cells.assign(size=part.cells["tags"].map(lambda t: tag_value(t, tag)))
        models = sizes.drop_duplicates("model").set_index("model")["size"]
        configs = agg.configs[agg.configs["model"].isin(models.index)]
        shared = configs.groupby("config")["model"].nunique()
        for config_label_, group in configs[configs["config"].isin(shared[shared == len(models)].index)].groupby("config", sort=True):
            for _, row in group.iterrows():
                rows.append({"family": family, "config": config_label_, "size": models[row["model"]], "model": row["model"],
                             "mean": row["mean"], "ci_low": row["ci_low"], "ci_high": row["ci_high"], "n": row["cases"]})
    return pd.DataFrame(rows, columns=["family", "config", "size", "model", "mean", "ci_low", "ci_high", "n"]).sort_values(
        ["family", "config", "size"], kind="stable").reset_index(drop=True)


def curve_figure(points: pd.DataFrame, metric: str, path: Path, tag: str = LEARNING_TAG) -> Path:
    from reportbench.figures import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for index, ((family, config), line) in enumerate(points.groupby(["family", "config"], sort=True)):
        ax.errorbar(line["size"], line["mean"], yerr=[line["mean"] - line["ci_low"], line["ci_high"] - line["mean"]],
                    marker="os^Dv<>"[index % 7], capsize=3, label=f"{family} · {config}")
    sizes = sorted(points["size"].unique())
    ax.set_xscale("symlog", linthresh=max(min([s for s in sizes if s > 0], default=1), 1))
    ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
    ax.set_xlabel(f"{tag.replace('_', ' ')} (0 = base model)")
    ax.set_ylabel(f"{metric} (mean, 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def curve_table(points: pd.DataFrame) -> pd.DataFrame:
    sizes = sorted(points["size"].unique())
    rows = []
    for (family, config), line in points.groupby(["family", "config"], sort=True):
        by_size = line.set_index("size")
        rows.append({"family": family, "config": config,
                     **{f"{size:g}": (f"{ci_text(by_size.loc[size])} (n={by_size.loc[size, 'n']})" if size in by_size.index else "—")
                        for size in sizes}})
    return pd.DataFrame(rows)


def shared_configs(runs: Runs) -> Runs:
    """Only the cells of configurations that every model of ``runs`` ran (what a learning curve can pair)."""
    from reportbench.labels import config_label

    labels = runs.cells.apply(config_label, axis=1) if len(runs.cells) else pd.Series(dtype=str)
    per_model = [set(labels[runs.cells["model"] == model]) for model in runs.cells["model"].unique()]
    shared = set.intersection(*per_model) if per_model else set()
    cells = runs.cells[labels.isin(shared)].reset_index(drop=True)
    return Runs(cells, runs.samples[runs.samples["cell"].isin(cells["cell"])].reset_index(drop=True))


def step_tables(runs: Runs, metric: str, tag: str = LEARNING_TAG, resamples: int = 10_000, seed: int = 1234) -> list[str]:
    """Per family: each size against the one before, paired by case, Holm-adjusted (as `compare --steps`)."""
    from reportbench.compare import step_sides, steps_rows

    lines = []
    for family, part in families(runs, tag).items():
        part = shared_configs(part)
        if part.cells["tags"].map(lambda t: tag_value(t, tag)).nunique() < 2:
            continue
        pairs = step_sides(part, f"{TAG_PREFIX}{FAMILY_TAG}={family}", tag)
        lines += [f"{family}:", "", markdown_table(steps_rows(pairs, metric, resamples, seed, 0.0)), ""]
    return lines
