"""`reportbench leaderboard RUNS --out DIR`: a markdown page, its figures and its data from finished runs.

Flow: runs (runs.py) -> per-configuration aggregates -> tables and figures -> DIR/README.md.
Everything on the page comes from the runs (dates included), so the same runs give the same page.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reportbench import __version__, analysis
from reportbench.audit import validity_sentence
from reportbench.decoding import COLUMNS as DECODING_COLUMNS
from reportbench.decoding import DEFAULTS as DECODING_DEFAULTS
from reportbench.labels import config_label, decoding_label, format_setting, markdown_table
from reportbench.labels import number as _number
from reportbench.metrics.base import is_missing
from reportbench.metrics.confidence import summarize
from reportbench.primary import choose_primary, higher_is_better
from reportbench.runs import CONFIG_COLUMNS, Runs, RunsError, export_folder, export_runs, load_all, parse_conditions

PAGE = "README.md"
PAGE_SETTINGS = "page.json"
# Tables and figures always show temperature and top_p (the seed study's axes); the other settings when they vary.
OTHER_DECODING = tuple(c for c in DECODING_COLUMNS if c not in ("temperature", "top_p"))
GREEDY_MARKERS = ("*", "P", "X", "D")


def decoding_order(configs: pd.DataFrame) -> list[str]:
    """Decoding labels from greedy up through temperature and top_p, for tables and figure columns."""
    ordered = configs.sort_values([*DECODING_COLUMNS, "chat_template"], na_position="first", kind="stable")
    return list(dict.fromkeys(ordered["decoding"]))


@dataclass
class Aggregates:
    metric: str
    configs: pd.DataFrame  # one row per model x configuration
    unranked: pd.DataFrame  # configurations that miss some of the cases the others ran


def aggregate(runs: Runs, metric: str) -> Aggregates:
    joined = runs.joined()
    all_cases = set(zip(joined["domain"], joined["case_id"]))
    domains = sorted(joined["domain"].unique())
    rows = []
    for key, group in joined.groupby(["model", *CONFIG_COLUMNS], dropna=False, sort=False):
        # The case is the unit: seeds of one case are averaged before the bootstrap over cases.
        per_case = group.groupby(["domain", "case_id"])[metric].mean()
        stats = summarize(per_case.to_numpy())
        cells = runs.cells[runs.cells["cell"].isin(group["cell"].unique())]
        wall = cells["wall_seconds"].sum(min_count=1)
        tokens = cells["generated_tokens"].sum(min_count=1)
        row = dict(zip(["model", *CONFIG_COLUMNS], key))
        row |= {
            "config": config_label(row), "decoding": decoding_label(row), "cases": stats["n"], "seeds": int(group["seed"].nunique()), "samples": len(group),
            "mean": stats["mean"], "ci_low": stats["ci_low"], "ci_high": stats["ci_high"],
            "std": float(group[metric].std(ddof=1)) if len(group) > 1 else 0.0,
            "parameters": cells["parameters"].max(), "tokens_per_second": None if is_missing(tokens) or is_missing(wall) or not wall else tokens / wall,
            "latency_seconds": None if is_missing(wall) or not cells["n"].sum() else wall / cells["n"].sum(),
            "complete": set(zip(group["domain"], group["case_id"])) == all_cases,
            "cells": ", ".join(sorted(cells["cell"])),
        }
        row |= {f"{domain} mean": group.loc[group["domain"] == domain, metric].mean() for domain in domains}
        # A metric some samples lack (e.g. cross_encoder configured for only some cells) is not averaged over the rest.
        row |= {m: group[m].mean() if group[m].notna().all() else None for m in runs.metrics}
        rows.append(row)
    configs = pd.DataFrame(rows)
    ascending = not higher_is_better(metric)
    configs = configs.sort_values(["model", "mean", "config"], ascending=[True, ascending, True], kind="stable").reset_index(drop=True)
    return Aggregates(metric, configs[configs["complete"]].reset_index(drop=True), configs[~configs["complete"]].reset_index(drop=True))


def _varies(column: pd.Series, name: str) -> bool:
    """More than one value among the configs that use the setting (greedy has no top_k)."""
    return len({format_setting(name, v) for v in column if not is_missing(v)}) > 1


def grid_tables(agg: Aggregates, model: str) -> dict[str, pd.DataFrame]:
    """Per prompt: one row per decoding setting, best first (the layout of the seed study's tables 6-11)."""
    configs = agg.configs[agg.configs["model"] == model]
    varying = [c for c in OTHER_DECODING if _varies(configs[c], c)]
    domain_columns = [c for c in configs.columns if c.endswith(" mean")]
    tables = {}
    for prompt, group in configs.groupby("prompt", sort=True):
        tables[prompt] = pd.DataFrame({
            "temperature": group["temperature"].map(lambda v: format_setting("temperature", v)),
            "top_p": group["top_p"].map(lambda v: format_setting("top_p", v)),
            **{c: group[c].map(lambda v, c=c: format_setting(c, v)) for c in varying},
            "count": group["samples"],
            "mean": group["mean"].map(_number),
            "std": group["std"].map(_number),
            "95% CI": group.apply(lambda r: f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]", axis=1),
            **{column: group[column].map(_number) for column in domain_columns},
        })
    return tables


def prompt_by_decoding(agg: Aggregates, model: str) -> pd.DataFrame:
    """Mean [95% CI] (n cases) of each prompt x decoding setting of one model."""
    configs = agg.configs[agg.configs["model"] == model].copy()
    configs["text"] = configs.apply(lambda r: f"{analysis.ci_text(r)} ({r['cases']})", axis=1)
    pivot = configs.pivot_table(index="decoding", columns="prompt", values="text", aggfunc="first", sort=True)
    pivot = pivot.reindex(decoding_order(configs)).fillna("—").reset_index()
    pivot.columns = ["decoding", *[f"prompt {c}" for c in pivot.columns[1:]]]
    return pivot


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in text)


def score_vs_temperature(runs: Runs, agg: Aggregates, path: Path) -> Path:
    """Mean score (95% CI bars) against temperature, one colour per top_p, prompts across, models down."""
    from reportbench.figures import pyplot, save

    plt = pyplot()
    configs = agg.configs
    models, prompts = sorted(configs["model"].unique()), sorted(configs["prompt"].unique())
    fig, axes = plt.subplots(len(models), len(prompts), figsize=(3.2 * len(prompts), 2.8 * len(models)),
                             sharex=True, sharey=True, squeeze=False)
    top_ps = sorted({v for v in configs["top_p"] if not is_missing(v)})
    colours = {p: plt.get_cmap("tab10")(i % 10) for i, p in enumerate(top_ps)}
    dodge = 0.012 * (configs["temperature"].max() or 1)  # keeps overlapping error bars apart
    # Greedy configurations that differ in another setting (e.g. structured_output) get a marker each, the same in every panel.
    all_greedy = configs[configs["temperature"] == 0]
    greedy_other = [c for c in OTHER_DECODING if _varies(all_greedy[c], c)]
    greedy_keys = sorted({_key(tuple(row[c] for c in greedy_other)) for _, row in all_greedy.iterrows()},
                         key=lambda key: [_default_first(c, v) for c, v in zip(greedy_other, key)])
    for i, model in enumerate(models):
        for j, prompt in enumerate(prompts):
            ax = axes[i][j]
            facet = configs[(configs["model"] == model) & (configs["prompt"] == prompt)]
            sampled = facet[facet["temperature"] > 0]
            other = [c for c in OTHER_DECODING if _varies(sampled[c], c)]
            lines = list(sampled.groupby(["top_p", *other], dropna=False, sort=True))
            for index, (key, line) in enumerate(lines):
                key = _key(key)
                line = line.sort_values("temperature")
                x = line["temperature"] + (index - (len(lines) - 1) / 2) * dodge
                label = "top_p=" + format_setting("top_p", key[0]) + "".join(f" {c}={format_setting(c, v)}" for c, v in zip(other, key[1:]))
                ax.errorbar(x, line["mean"], yerr=[line["mean"] - line["ci_low"], line["ci_high"] - line["mean"]],
                            marker="o", capsize=3, color=colours.get(key[0], "grey"), label=label)
            greedy = facet[facet["temperature"] == 0]
            for key, group in (greedy.groupby(greedy_other, dropna=False, sort=True) if greedy_other else [((), greedy)]):
                if group.empty:
                    continue
                index = greedy_keys.index(_key(key))
                label = "greedy" + "".join(f" {c}={format_setting(c, v)}" for c, v in zip(greedy_other, _key(key)))
                ax.errorbar(group["temperature"], group["mean"], yerr=[group["mean"] - group["ci_low"], group["ci_high"] - group["mean"]],
                            marker=GREEDY_MARKERS[index % len(GREEDY_MARKERS)], markersize=10 if index == 0 else 8, linestyle="none",
                            capsize=3, color="black" if index == 0 else "dimgray", label=label)
            ax.set_title(f"{model} · prompt {prompt}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(models) - 1:
                ax.set_xlabel("temperature")
    fig.supylabel(f"{agg.metric} (mean, 95% CI)", fontsize=10)  # once: per-row labels collide when models stack
    legend = {}  # every series of every panel, once, in order of appearance
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    handles, labels = list(legend.values()), list(legend)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save(fig, path)


def _key(key) -> tuple:
    """A groupby key as a tuple of spellings (NaN-safe, comparable)."""
    return tuple(key) if isinstance(key, tuple) else (key,)


def _default_first(column: str, value) -> tuple:
    """Sort key: a setting's default value (e.g. structured_output none) before the others."""
    default = DECODING_DEFAULTS.get(column)
    return (format_setting(column, value) != format_setting(column, default), format_setting(column, value))


def score_histograms(runs: Runs, agg: Aggregates, model: str, path: Path) -> Path:
    """One histogram of per-sample scores per configuration: prompts down, decoding settings across."""
    from reportbench.figures import pyplot, save

    plt = pyplot()
    joined = runs.joined()
    joined = joined[joined["model"] == model]
    configs = agg.configs[agg.configs["model"] == model]
    prompts, decodings = sorted(configs["prompt"].unique()), decoding_order(configs)
    values = joined[agg.metric]
    bins = np.linspace(float(values.min()), float(values.max()) if values.max() > values.min() else float(values.min()) + 1, 21)
    fig, axes = plt.subplots(len(prompts), len(decodings), figsize=(2.6 * len(decodings), 2.0 * len(prompts)),
                             sharex=True, sharey=True, squeeze=False)
    for _, config in configs.iterrows():
        ax = axes[prompts.index(config["prompt"])][decodings.index(config["decoding"])]
        scores = joined[joined["cell"].isin(config["cells"].split(", "))][agg.metric]
        ax.hist(scores, bins=bins, color="tab:blue", alpha=0.8)
        ax.axvline(config["mean"], color="black", lw=1)
        ax.set_title(f"{config['prompt']} · {config['decoding']}\nn={len(scores)} mean={config['mean']:.3f}", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel(agg.metric, fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def correlation_figure(runs: Runs, path: Path) -> tuple[Path, int] | None:
    from reportbench.correlation import can_correlate, varying_metrics
    from reportbench.figures import correlation_heatmap

    table = varying_metrics(runs.samples[runs.metrics])
    if not can_correlate(table):
        return None
    corr = table.corr(method="pearson")
    correlation_heatmap(corr, path, f"Pearson correlation of per-sample metrics (n={len(table)})")
    return path, len(table)


def _span(values) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def _metadata(runs: Runs, agg: Aggregates) -> list[str]:
    from reportbench.cases import select_cases
    from reportbench.digests import packaged_data_digest

    cells = runs.cells
    finished = sorted(v for v in cells["finished_at"] if isinstance(v, str))
    lines = [
        f"- **Date:** runs finished {_span(finished)}" if finished else "- **Date:** not recorded in these runs",
        f"- **Versions:** reportbench {', '.join(sorted({str(v) for v in cells['reportbench_version'] if not is_missing(v)})) or '—'}"
        f" (page built with {__version__}); lm-eval {', '.join(sorted({str(v) for v in cells['lm_eval_version'] if not is_missing(v)})) or '—'}",
        f"- **Hardware:** {'; '.join(sorted({str(v) for v in cells['hardware'] if not is_missing(v)})) or '—'}",
        f"- **Cells:** {len(cells)}, {len(runs.samples)} samples; n per cell {_span(cells['n'])} (listed below)",
    ]
    for domain, group in cells.groupby("domain", sort=True):
        split = ", ".join(sorted(group["split"].astype(str).unique()))
        evaluated = runs.samples[runs.samples["cell"].isin(group["cell"])]["case_id"].nunique()
        digests = {v for v in group["data_sha256"] if not is_missing(v)}
        packaged = packaged_data_digest(domain)
        if digests == {packaged}:
            source = f"packaged `{domain}.jsonl` ({len(select_cases(domain, split))} cases in the {split} split)" if split in ("dev", "test") else f"packaged `{domain}.jsonl`"
        elif digests:
            source = "data file sha256 " + ", ".join(sorted(d[:12] for d in digests))
        else:
            source = "data file not recorded (lm-eval output)"
        limits = {format_setting("limit", v) for v in group["limit"]} - {"—"}
        lines.append(f"- **Data, {domain}:** split `{split}`, {evaluated} cases evaluated; {source}"
                     + (f"; --limit {', '.join(sorted(limits))}" if limits else ""))
    judges = sorted({str(v) for v in cells["judge"] if not is_missing(v)})
    if judges:
        lines.append(f"- **LLM judge** (`judge_*` metrics; rubric and prompt in reportbench's `metrics/judge_rubric.yaml`, "
                     f"its sha256 as recorded in the judge logs): {'; '.join(judges)}")
    lines.append("- **Statistics:** means over cases (seeds of a case averaged first); 95% CI = percentile bootstrap over cases "
                 "(scipy.stats.bootstrap, seeded); std over samples (ddof=1).")
    return lines


def build_page(runs: Runs, out: Path, metric: str | None = None, title: str | None = None,
               skipped_damaged: list[str] | None = None, why: str | None = None) -> Path:
    primary, reason = choose_primary(runs.complete_metrics, metric)
    agg = aggregate(runs, primary)
    if agg.configs.empty:
        raise RunsError("no configuration covers every case of these runs, so none can be ranked; select fewer runs")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.png"):  # figures of an earlier build with other models must not linger
        stale.unlink()
    export_runs(runs, out / "data")
    # What the page was asked for, so a rebuild from data/ needs no options to give the same page.
    settings = {"title": title, "metric": metric, "primary": primary} | ({"why": why} if why else {}) \
        | ({"skipped_damaged": skipped_damaged} if skipped_damaged else {})
    (out / "data" / PAGE_SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")
    models = sorted(agg.configs["model"].unique())
    direction = "higher" if higher_is_better(primary) else "lower"
    lines = [
        f"# {title or out.name}",
        "",
        f"Incident-report generation on reportbench: {len(models)} model(s), {len(agg.configs)} model configuration(s) "
        f"(prompt × decoding), {len(runs.cells)} cells. Generated by `reportbench leaderboard`; the tables it was built from are in "
        "[data/](data/), and `reportbench leaderboard DIR/data --out DIR`, DIR being this folder, rebuilds this page from them.",
        "",
        f"**Primary metric:** {reason}; {direction} is better.{f' {why}' if why else ''} Every other metric is the mean over the same samples.",
        "",
        *([validity, ""] if (validity := validity_sentence(primary)) else []),
        "## Ranking",
        "",
        "Each model at its best configuration (chosen on these same cases, so the best score is optimistic). Every mean is over "
        "the n cases of its row (a domain column: over that domain's cases, n in brackets), with its 95% CI.",
        "",
        markdown_table(analysis.headline_table(runs, agg)),
        "",
        "### Every other metric",
        "",
        "The same configurations and cases; mean [95% CI].",
        "",
        markdown_table(analysis.all_metrics_table(runs, agg)),
        "",
        *_licences(models),
    ]
    if not agg.unranked.empty:
        lines += [f"Left out of every table and figure, because they miss cases the others ran (a partial or unfinished run?): {', '.join(agg.unranked['model'] + ' ' + agg.unranked['config'])}.", ""]
    lines += _learning_curve(runs, agg, out)
    lines += ["## Failure modes", "",
              "Share of cases showing each failure, per model at its best configuration, with its 95% CI "
              "(seeds of a case averaged first):", "",
              *(f"- **{mode.name}**: {mode.description}" for mode in analysis.FAILURE_MODES),
              f"- **{analysis.JUDGE_FAILURE}**: the LLM judge's answer could not be read (only where a judge ran)", "",
              markdown_table(analysis.failure_table(runs, agg)), "",
              "## Worst cases", "",
              f"The {analysis.WORST_CASES} cases with the worst `{primary}` of each model at its best configuration: key fields, "
              "reference and the model's raw generation.", "",
              *analysis.worst_cases(runs, agg)]
    lines += ["## Grid results per model", ""]
    for model in models:
        lines += [f"### {model}", "", f"Mean `{primary}` [95% CI] (n cases) by prompt and decoding setting:", "", markdown_table(prompt_by_decoding(agg, model)), ""]
        for prompt, table in grid_tables(agg, model).items():
            lines += [f"#### Prompt {prompt}", "", markdown_table(table), ""]
    lines += ["## Figures", ""]
    figure = score_vs_temperature(runs, agg, out / "score_vs_temperature.png")
    lines += [f"`{primary}` against temperature, by top_p (colour) and prompt (columns); greedy decoding is the star at 0.", "",
              f"![score against temperature]({figure.name})", ""]
    for model in models:
        figure = score_histograms(runs, agg, model, out / f"histograms_{_slug(model)}.png")
        lines += [f"Per-sample `{primary}` of {model}, one histogram per configuration (line: mean).", "", f"![histograms of {model}]({figure.name})", ""]
    correlation = correlation_figure(runs, out / "metric_correlation.png")
    if correlation:
        lines += [f"Pearson correlation between the per-sample metrics ({correlation[1]} samples).", "", f"![metric correlation]({correlation[0].name})", ""]
    else:
        lines += ["(Too few varying metrics or samples for a correlation heatmap.)", ""]
    lines += ["## About these runs", "", *_metadata(runs, agg), "", "### Cells", ""]
    cells = runs.cells.copy()
    cells["config"] = cells.apply(config_label, axis=1)
    lines += [markdown_table(cells[["model", "task", "config", "seed", "n", "cell", "source"]]), ""]
    if skipped_damaged:
        lines += ["### Skipped: damaged cells and stray files", "",
                  f"Left out with `--skip-damaged` ({len(skipped_damaged)}); their cases are in no table above:", "",
                  *(f"- `{line}`" for line in skipped_damaged), ""]
    page = out / PAGE
    page.write_text("\n".join(lines), encoding="utf-8")
    return page


def _licences(models: list[str]) -> list[str]:
    """The terms of the embedded weights behind the models on the page (named after them: alias or alias-...)."""
    from reportbench.metrics.models import EMBEDDED_MODELS

    used = [m for alias, m in EMBEDDED_MODELS.items() if any(name == alias or name.startswith(alias + "-") for name in models)]
    if not used:
        return []
    return ["**Licences of the embedded weights** (fine-tunes named after a model inherit its terms): "
            + "; ".join(f"`{m.alias}`: {m.licence}" for m in used) + ".", ""]


def _learning_curve(runs: Runs, agg: Aggregates, out: Path) -> list[str]:
    """The learning-curve section, when models carry a training_cases tag."""
    if not analysis.tagged(runs):
        return []
    points = analysis.curve_points(runs, agg)
    if points.empty:
        return []
    figure = analysis.curve_figure(points, agg.metric, out / "learning_curve.png")
    return ["## Learning curve", "",
            f"`{agg.metric}` against the number of dev cases a checkpoint was fine-tuned on (model tag `training_cases`; 0 is "
            "the base model), for the configurations every checkpoint of a family ran; mean [95% CI] over the test cases.", "",
            f"![learning curve]({figure.name})", "",
            markdown_table(analysis.curve_table(points)), "",
            "Each size against the one before, paired by case (configurations of a case averaged), as "
            "`reportbench compare RUNS --steps training_cases --where tags.family=NAME` gives it:", "",
            *analysis.step_tables(runs, agg.metric)]


INDEX_FOOTER = """## Regenerating

`make leaderboard` trains the LoRA checkpoints it needs (skipped once trained), runs the grid(s) on
vLLM (finished cells are kept, so an interrupted run resumes), rebuilds each page and this index.
Without the raw runs, a page is rebuilt from its own data, byte for byte (a test checks this):

```bash
.venv/bin/reportbench leaderboard leaderboards/NAME/data --out leaderboards/NAME
.venv/bin/reportbench leaderboard-index leaderboards
```

To add cells to a page without its raw runs, pass the page's data and the new runs together (each
cell may appear once): `reportbench leaderboard leaderboards/NAME/data runs/new-cells --out leaderboards/NAME`.

## Publishing a page of your own

Run a grid (or `reportbench lm-eval ... --log_samples`), then
`reportbench leaderboard RUNS_DIR --out leaderboards/NAME [--title ...] [--metric ...]`, then
`reportbench leaderboard-index leaderboards`, and commit the folder. Sampled decoding differs between
backends and hardware even with a fixed seed, so a page records its backend's hardware and versions;
compare numbers across pages with that in mind.
"""


def write_index(folder: Path) -> Path:
    """folder/README.md: one row per page below it (date, models, primary metric), from each page's data/."""
    from reportbench.runs import EXPORT_CELLS

    rows = []
    for data in sorted(folder.glob(f"*/data/{PAGE_SETTINGS}")):
        board = data.parent.parent
        settings = json.loads(data.read_text())
        cells = pd.read_csv(data.parent / EXPORT_CELLS)
        finished = sorted(v for v in cells["finished_at"] if isinstance(v, str))
        models = sorted(cells["model"].unique())
        rows.append({"page": f"[{board.name}]({board.name}/{PAGE})", "title": settings.get("title") or board.name,
                     "runs finished": _span([v[:10] for v in finished]) if finished else "—",
                     "models": f"{len(models)}: " + ", ".join(models), "cells": str(len(cells)),
                     "primary metric": f"`{settings['primary']}`" if settings.get("primary") else "—"})
    if not rows:
        raise RunsError(f"{folder}: no page (no */data/{PAGE_SETTINGS}) below it")
    text = "\n".join([
        "# Leaderboards", "",
        "Pages built by `reportbench leaderboard` from real runs; this index by `reportbench leaderboard-index`. Each folder "
        "holds the page (`README.md`), its PNG figures, and `data/`: the per-cell and per-sample tables the page was built "
        "from (`cells.csv`, `samples.csv`) and the options it was built with (`page.json`).", "",
        markdown_table(pd.DataFrame(rows)), "", INDEX_FOOTER])
    index = folder / PAGE
    index.write_text(text, encoding="utf-8")
    return index


def index_main(args) -> int:
    try:
        index = write_index(Path(args.folder))
    except RunsError as err:
        print(f"reportbench leaderboard-index: {err}", file=sys.stderr)
        return 2
    print(f"reportbench: wrote {index}")
    return 0


def main(args) -> int:
    try:
        runs = load_all(args.runs)
        conditions = parse_conditions(args.select, "--select")
        if conditions:
            runs = runs.select(conditions)
        # Rebuilding or extending a page: the options saved with the first page among the inputs are the defaults.
        runs.require_whole(args.skip_damaged)
        exports = [export for export in map(export_folder, args.runs) if export and (export / PAGE_SETTINGS).is_file()]
        saved = json.loads((exports[0] / PAGE_SETTINGS).read_text()) if exports else {}
        # what an earlier build skipped stays on the page when it is rebuilt from its data/
        skipped = list(dict.fromkeys([*saved.get("skipped_damaged", []), *(d.line() for d in runs.damaged)]))
        page = build_page(runs, Path(args.out), args.metric or saved.get("metric"), args.title or saved.get("title"), skipped,
                          args.why or saved.get("why"))
    except RunsError as err:
        print(f"reportbench leaderboard: {err}", file=sys.stderr)
        return 2
    figures = sorted(p.name for p in page.parent.glob("*.png"))
    print(f"reportbench: wrote {page} with {len(figures)} figure(s): {', '.join(figures)}")
    return 0
