"""`reportbench metrics describe | correlate | build-bertscore-baseline`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def describe(names: list[str] | None, options) -> int:
    import dataclasses

    from reportbench.answer import SCHEMA_SETTINGS
    from reportbench.metrics import METRICS, get_metric
    from reportbench.metrics.confidence import SUMMARY_SETTINGS

    chosen = [get_metric(n) for n in names] if names else list(METRICS.values())
    print(json.dumps(
        {"metrics": [m.describe(options) for m in chosen], "model_options": dataclasses.asdict(options), "aggregate": SUMMARY_SETTINGS,
         "structured_output_json": SCHEMA_SETTINGS},
        indent=2, default=str,
    ))
    return 0


def per_sample_table(paths: list[str]):
    """Per-sample metric values from `reportbench score` outputs or lm-eval samples files."""
    import pandas as pd

    from reportbench.correlation import varying_metrics
    from reportbench.metrics import METRICS

    frames = []
    for path in paths:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        frames.append(pd.DataFrame([{k: v for k, v in row.items() if k in METRICS} for row in rows]))
    return varying_metrics(pd.concat(frames, ignore_index=True).apply(pd.to_numeric, errors="coerce"))


def correlate(paths: list[str], out: str) -> int:
    import pandas as pd

    from reportbench.correlation import can_correlate, pca_loadings
    from reportbench.figures import correlation_heatmap, pyplot, save

    table = per_sample_table(paths)
    if not can_correlate(table):
        print("reportbench metrics correlate: need at least 2 varying metrics and 3 samples", file=sys.stderr)
        return 2
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    corr = table.corr(method="pearson")
    loadings, explained = pca_loadings(table)
    loading_table = pd.DataFrame(loadings, index=table.columns, columns=["PC1", "PC2"])

    correlation_heatmap(corr, out_dir / "correlation.png", f"Pearson correlation of per-sample metrics (n={len(table)})")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    for name, (x, y) in zip(table.columns, loadings):
        ax.arrow(0, 0, x, y, head_width=0.02, length_includes_head=True, color="tab:blue")
        ax.annotate(name, (x, y), fontsize=8)
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.set_title("PCA loadings of the metrics")
    ax.set_xlim(-1.1, 1.1)
    ax.set_ylim(-1.1, 1.1)
    fig.tight_layout()
    save(fig, out_dir / "pca_loadings.png")

    markdown = [
        "# Metric correlation",
        "",
        f"Per-sample values from {len(paths)} file(s), {len(table)} samples, {table.shape[1]} varying metrics.",
        "",
        "## Pearson correlation",
        "",
        corr.round(3).to_markdown(),
        "",
        "![correlation](correlation.png)",
        "",
        f"## PCA loadings (PC1 {explained[0]:.1%}, PC2 {explained[1]:.1%} of variance)",
        "",
        loading_table.round(3).to_markdown(),
        "",
        "![PCA loadings](pca_loadings.png)",
        "",
    ]
    (out_dir / "correlation.md").write_text("\n".join(markdown))
    print(f"reportbench: wrote {out_dir / 'correlation.md'}, correlation.png and pca_loadings.png")
    return 0


def reference_reports() -> list[str]:
    """Every reference report of both packaged datasets, dev and test."""
    from reportbench.cases import DOMAINS, read_cases
    from reportbench.metrics.schema import REFERENCE_FIELD
    from reportbench.paths import packaged_data_dir

    return [c[REFERENCE_FIELD] for d in DOMAINS for c in read_cases(packaged_data_dir() / f"{d}.jsonl", d)]


def build_baseline(out: str | None, pairs: int, options) -> int:
    from reportbench.metrics.baseline import build_bertscore_baseline
    from reportbench.metrics.encoders import resolve_model
    from reportbench.metrics.semantic import bertscore_baseline_path

    target = Path(out) if out else bertscore_baseline_path(options)
    if target is None:
        print("reportbench: give --out for a model other than the default", file=sys.stderr)
        return 2
    path = build_bertscore_baseline(target, reference_reports(), resolve_model(options.bertscore_model), options.bertscore_num_layers, pairs)
    print(f"reportbench: wrote BERTScore baseline {path} ({pairs} unrelated reference pairs)")
    return 0


def _extra_option_sets(items: list[str] | None, options) -> dict:
    """--also KEY=VALUE[,KEY=VALUE...]: further metric option sets whose model metrics are audited too."""
    from reportbench.metrics.options import MetricOptions

    variants = {}
    for item in items or []:
        values = {}
        for part in item.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--also {item!r}: expected KEY=VALUE[,KEY=VALUE...], e.g. cross_encoder_mode=sts")
            values[key.strip().replace("-", "_")] = value.strip()
        variants[item] = MetricOptions.parse({**json.loads(options.to_json()), **values}, f"--also {item}")
    return variants


def audit(args, options) -> int:
    """`reportbench metrics audit`: detection rates of every content metric on damaged reports."""
    from reportbench import audit as validity
    from reportbench.paths import packaged_data_dir
    from reportbench.scoring import ScoreInputError

    try:
        cases = validity.load_audit_cases(args.split, args.data, args.limit)
        candidate_files = list(args.candidates or [])
        judged_files = list(args.judged or [])
        packaged_test = args.split == "test" and not args.data  # the packaged test split: its hand-made files come too
        if packaged_test and not args.no_handwritten:
            candidate_files.insert(0, str(packaged_data_dir() / validity.HANDWRITTEN_FILE))
        if packaged_test and not args.no_judged:
            judged_files.insert(0, str(packaged_data_dir() / validity.JUDGED_FILE))
        rewrites = validity.read_rewrites(args.rewrites) if args.rewrites else validity.packaged_rewrites()
        known = {c["id"] for c in cases}
        if not any(case_id in known for case_id in rewrites) and not args.runs and not args.candidates:
            raise validity.AuditInputError(
                f"no faithful rewrite of any audited case (rewrites cover {len(rewrites)} other ids); "
                "pass --rewrites FILE with {\"id\", \"rewrite\"} rows, --candidates FILE or --runs DIR")
        variants = _extra_option_sets(validity.DEFAULT_VARIANTS if args.also is None else args.also, options)
        metrics = [n.strip() for n in args.metrics.split(",")] if args.metrics else None
        unknown = sorted(set(metrics or []) - set(validity.auditable_metrics()))
        if unknown:
            raise validity.AuditInputError(f"--metrics: not auditable: {', '.join(unknown)}; auditable: {', '.join(validity.auditable_metrics())}")
        print(f"reportbench metrics audit: {len(cases)} cases of split {args.split!r}", file=sys.stderr)
        result = validity.run_audit(cases, rewrites, options, variants, candidate_files, args.runs or [],
                                    args.variants, args.seed, metrics,
                                    validity.skipped_by_limit(args.split, args.data, cases) if args.limit else frozenset(),
                                    judged_files)
    except (validity.AuditInputError, ScoreInputError, ValueError) as err:
        print(f"reportbench metrics audit: {err}", file=sys.stderr)
        return 2
    held_out = validity.held_out_classes(validity.metric_columns(options, variants, metrics))
    written = validity.write(result, args.out, held_out)
    if args.publish:
        Path(args.publish).write_text(json.dumps(validity.validity_summary(result, held_out), indent=1) + "\n", encoding="utf-8")
        written.append(Path(args.publish))
    validity.print_summary(result)
    for name, reason in result.unavailable.items():
        print(f"reportbench metrics audit: {name} not audited: {reason}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def judging_sheet(args) -> int:
    """`reportbench metrics judging-sheet`: real outputs of runs, drawn for readers to judge."""
    from reportbench.cases import DOMAINS, CaseFileError, read_cases
    from reportbench.judged import draw_outputs, write_sheet
    from reportbench.paths import packaged_data_dir
    from reportbench.records import RunsError
    from reportbench.runs import load_runs

    try:
        files = [Path(args.data)] if args.data else [packaged_data_dir() / f"{d}.jsonl" for d in DOMAINS]
        cases = {c["id"]: c for path in files for c in read_cases(path)}
        rows = draw_outputs(load_runs(args.runs), args.cases_per_domain, args.per_case, args.seed)
        unknown = sorted({r["id"] for r in rows} - set(cases))
        if unknown:
            raise RunsError(f"{args.runs}: case {unknown[0]} is not in "
                            + (args.data if args.data else "the packaged cases") + " (give the case file with --data)")
    except (CaseFileError, RunsError) as err:
        print(f"reportbench metrics judging-sheet: {err}", file=sys.stderr)
        return 2
    if not rows:
        print(f"reportbench metrics judging-sheet: {args.runs}: no case was answered by every model of these runs", file=sys.stderr)
        return 2
    written = write_sheet(rows, cases, args.out)
    print(f"wrote {len(rows)} outputs of {len({r['id'] for r in rows})} cases: {written[0]} (fill in 'judgements'), "
          f"{written[1]} (the reading sheet)", file=sys.stderr)
    return 0


def train_cross_encoder(args) -> int:
    """`reportbench metrics train-cross-encoder`: train the fact-aware cross-encoder on the dev split."""
    import shutil
    from dataclasses import replace

    from reportbench.cross_encoder_training import (
        RECIPE,
        WRITTEN_STAGE,
        compare,
        train_free_text_expert,
        train_recipe,
        with_class_weights,
    )
    from reportbench.metrics.fact_cross_encoder import FREE_TEXT_DIR, TRAINING_FILE, WEIGHTS_FILE

    def refuse(message: str) -> int:
        print(f"reportbench metrics train-cross-encoder: {message}", file=sys.stderr)
        return 2

    if args.written_styles and not args.with_written:
        return refuse("--written-styles needs --with-written")
    if args.free_text_expert == "only":
        recipe_flags = [flag for flag, value in (("--with-written", args.with_written), ("--class-weights", args.class_weights),
                                                 ("--reference-share", args.reference_share is not None)) if value]
        if recipe_flags:
            return refuse(f"{', '.join(recipe_flags)} change the recipe's stages, which --free-text-expert only does not train")
        if not args.first_stages:
            return refuse("--free-text-expert only needs --first-stages (the finished model to start from)")
    out = Path(args.out)
    try:
        if args.free_text_expert == "only":
            first = Path(args.first_stages)
            missing = [name for name in (WEIGHTS_FILE, TRAINING_FILE) if not (first / name).is_file()]
            if missing:
                return refuse(f"--first-stages {first}: no {missing[0]} (the folder of a trained model is needed)")
            out.mkdir(parents=True, exist_ok=True)
            if first.resolve() != out.resolve():
                for name in (WEIGHTS_FILE, TRAINING_FILE):
                    shutil.copyfile(first / name, out / name)
            reports = []
        else:
            styles = tuple(name.strip() for name in args.written_styles.split(",") if name.strip())
            recipe = (*RECIPE, replace(WRITTEN_STAGE, written_styles=styles)) if args.with_written else RECIPE
            last = recipe[-1]  # the flags below change the last stage only
            if args.class_weights:
                last = with_class_weights(last, args.class_weights)
            if args.reference_share is not None:
                last = replace(last, reference_share=args.reference_share)
            recipe = (*recipe[:-1], last)
            reports = train_recipe(args.out, recipe, max_steps=args.max_steps, seed=args.seed, batch_size=args.train_batch_size,
                                   first_stages=args.first_stages)
            if (out / FREE_TEXT_DIR).exists():  # an expert of the model just replaced no longer fits it
                print(f"reportbench metrics train-cross-encoder: removing {out / FREE_TEXT_DIR} (trained on the model replaced)",
                      file=sys.stderr)
                shutil.rmtree(out / FREE_TEXT_DIR)
        if args.free_text_expert != "skip":
            reports.append(train_free_text_expert(out, max_steps=args.max_steps, seed=args.seed, batch_size=args.train_batch_size))
    except (OSError, ValueError) as err:
        return refuse(str(err))
    steps, pairs, seconds = (sum(getattr(r, k) for r in reports) for k in ("steps", "examples_seen", "seconds"))
    print(f"trained {steps} steps ({pairs} pairs, {len(reports)} stage(s)) in {seconds:.0f} s -> {args.out}", file=sys.stderr)
    if args.compare_to:
        result = compare(args.compare_to, args.out)
        print(json.dumps({"compared_to": args.compare_to, **result}, indent=1))
        if result["max_abs_diff"] > args.tolerance:
            print(f"reportbench: scores differ from {args.compare_to} by up to {result['max_abs_diff']:.4f} "
                  f"(tolerance {args.tolerance})", file=sys.stderr)
            return 1
    return 0
