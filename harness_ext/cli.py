"""The `reportbench` command."""

from __future__ import annotations

import argparse
import sys

from reportbench import __version__
from reportbench.cases import DEV_SIZE, DOMAINS


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse turns the ValueError into a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _model_path(args) -> int:
    from reportbench.metrics.models import ModelNotAvailable, model_path

    try:
        print(model_path(args.alias))
    except ModelNotAvailable as err:
        print(f"reportbench: {err}", file=sys.stderr)
        return 2
    return 0


def _tasks_dir(args) -> int:
    from reportbench.paths import tasks_dir

    print(tasks_dir())
    return 0


def _data_validate(args) -> int:
    from reportbench.data_commands import validate

    return validate(args.file, args.domain)


def _data_check_facts(args) -> int:
    from reportbench.data_commands import check_facts

    return check_facts(args.file, args.domain)


def _data_split(args) -> int:
    from reportbench.data_commands import resplit

    return resplit(args.file, args.dev_size)


def _score(args) -> int:
    from reportbench.scoring import main as score_main

    return score_main(args, options_from_args(args))


def _rescore(args) -> int:
    from reportbench.scoring import rescore_main

    return rescore_main(args, options_from_args(args))


def options_from_args(args):
    """The metric options given as command-line flags (the CLI door of MetricOptions.parse)."""
    from reportbench.metrics.options import OPTION_NAMES, MetricOptions

    return MetricOptions.parse({k: v for k, v in vars(args).items() if k in OPTION_NAMES and v is not None}, "command line")


def _metrics_describe(args) -> int:
    from reportbench.metrics_commands import describe

    return describe([n.strip() for n in args.metrics.split(",")] if args.metrics else None, options_from_args(args))


def _metrics_correlate(args) -> int:
    from reportbench.metrics_commands import correlate

    return correlate(args.files, args.out)


def _metrics_baseline(args) -> int:
    from reportbench.metrics_commands import build_baseline

    return build_baseline(args.out, args.pairs, options_from_args(args))


def _metrics_judging_sheet(args) -> int:
    from reportbench.metrics_commands import judging_sheet

    return judging_sheet(args)


def _metrics_audit(args) -> int:
    from reportbench.metrics_commands import audit

    return audit(args, options_from_args(args))


def _metrics_train(args) -> int:
    from reportbench.metrics_commands import train_cross_encoder

    return train_cross_encoder(args)


# Older spellings of two flags, kept working.
_FLAG_ALIASES = {"metric_device": ["--device"], "metric_batch_size": ["--batch-size"]}


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """One flag per metric option, named after it (cross_encoder -> --cross-encoder); values are checked by MetricOptions.parse."""
    from reportbench.metrics.options import OPTION_HELP

    group = parser.add_argument_group("metric options (models: a local folder, an embedded alias or a hub id)")
    for name, help_text in OPTION_HELP.items():
        group.add_argument(f"--{name.replace('_', '-')}", *_FLAG_ALIASES.get(name, []), dest=name, help=help_text)


def _grid(args) -> int:
    from reportbench.grid import GridConfigError, run_grid

    try:
        return run_grid(args.config, args.output, args.shard, args.limit, args.dry_run,
                        [name for item in args.models or [] for name in item.split(",") if name])
    except GridConfigError as err:
        print(f"reportbench grid: {err}", file=sys.stderr)
        return 2


def _leaderboard(args) -> int:
    from reportbench.leaderboard import main as leaderboard_main

    return leaderboard_main(args)


def _leaderboard_index(args) -> int:
    from reportbench.leaderboard import index_main

    return index_main(args)


def _compare(args) -> int:
    from reportbench.compare import main as compare_main

    return compare_main(args)


SKIP_DAMAGED_HELP = ("leave out cell folders with a missing or unreadable cell.json, results.json or samples.jsonl, and stray "
                     "JSON files, listing them in the output (default: refuse, naming each)")
SELECT_HELP = "keep only cells whose KEY equals VALUE (model, task, domain, prompt, temperature, top_p, top_k, max_gen_toks, seed, cell, ...); repeatable"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reportbench", description="Incident-report benchmark for lm-evaluation-harness.")
    parser.add_argument("--version", action="version", version=f"reportbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    model = commands.add_parser("model-path", help="print the local folder of an embedded model (built on first use)")
    model.add_argument("alias", help="embedded model alias, e.g. smollm2-135m")
    model.set_defaults(func=_model_path)

    tasks = commands.add_parser("tasks-dir", help="print the task folder, for lm_eval --include_path")
    tasks.set_defaults(func=_tasks_dir)

    data = commands.add_parser("data", help="validate case files and check their reference reports")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    domain_help = "also enforce the benchmark's own rules: '<domain>-NNN' ids and a split column"
    validate = data_commands.add_parser(
        "validate", help="check a JSONL/CSV/XLSX case file; prints FILE:LINE: field 'X': problem, exits 1 on any"
    )
    validate.add_argument("file")
    validate.add_argument("--domain", choices=DOMAINS, help=domain_help)
    validate.set_defaults(func=_data_validate)
    facts = data_commands.add_parser(
        "check-facts", help="list key facts of the fields (dates, times, IDs, quantities, names) missing from each reference"
    )
    facts.add_argument("file")
    facts.add_argument("--domain", choices=DOMAINS, help=domain_help)
    facts.set_defaults(func=_data_check_facts)
    split = data_commands.add_parser("split", help="rewrite the split column of a JSONL file: deterministic dev/test")
    split.add_argument("file")
    split.add_argument("--dev-size", type=int, default=DEV_SIZE, help=f"cases in dev (default {DEV_SIZE})")
    split.set_defaults(func=_data_split)

    score = commands.add_parser("score", help="rescore saved outputs (lm-eval samples or prediction/reference JSONL)")
    score.add_argument("--input", required=True, help="samples_*.jsonl of a reportbench task, or JSONL with prediction and reference")
    score.add_argument("--output", required=True, help="JSONL with one row of metric values per input row")
    score.add_argument("--metrics", help="comma-separated metric names (default: all task metrics)")
    _add_model_options(score)
    score.set_defaults(func=_score)

    rescore = commands.add_parser("rescore", help="score finished grid cells again in place (after a metric model changed)")
    rescore.add_argument("runs", nargs="+", help="folders of grid cells (a grid's --output)")
    rescore.add_argument("--metrics", required=True, help="comma-separated metric names to recompute, e.g. cross_encoder")
    _add_model_options(rescore)
    rescore.set_defaults(func=_rescore)

    metrics = commands.add_parser("metrics", help="describe, correlate or calibrate the metrics")
    metric_commands = metrics.add_subparsers(dest="metrics_command", required=True, metavar="ACTION")
    describe = metric_commands.add_parser("describe", help="print every metric's exact library settings as JSON")
    describe.add_argument("--metrics", help="comma-separated metric names (default: all)")
    _add_model_options(describe)
    describe.set_defaults(func=_metrics_describe)
    correlate = metric_commands.add_parser("correlate", help="correlation matrix and PCA loadings of per-sample metrics")
    correlate.add_argument("files", nargs="+", help="`reportbench score` outputs or lm-eval samples_*.jsonl files")
    correlate.add_argument("--out", default="metric_correlation", help="folder for correlation.md and the PNGs")
    correlate.set_defaults(func=_metrics_correlate)
    baseline = metric_commands.add_parser("build-bertscore-baseline", help="rebuild the BERTScore rescale baseline from the shipped references")
    baseline.add_argument("--out", help="CSV to write (default: the shipped baseline of the default model)")
    baseline.add_argument("--pairs", type=int, default=2000, help="unrelated reference pairs to average (default 2000)")
    _add_model_options(baseline)
    baseline.set_defaults(func=_metrics_baseline)
    audit = metric_commands.add_parser("audit", help="which metric notices a wrong fact: detection rates on damaged reports")
    audit.add_argument("--out", default="audit", help="folder for audit.md, audit.png, rates.csv, controls.csv, candidates.jsonl")
    audit.add_argument("--split", default="test", choices=["dev", "test"], help="cases to audit (default test)")
    audit.add_argument("--data", help="case file (JSONL/CSV/XLSX with ids) instead of the packaged cases")
    audit.add_argument("--rewrites", help="JSONL of {id, rewrite}: faithful rewrites (default: the packaged ones)")
    audit.add_argument("--candidates", action="append", metavar="FILE",
                       help="hand-written candidates: JSONL of {id, kind: faithful|damaged, text, base: reference|rewrite, damage}; repeatable")
    audit.add_argument("--runs", action="append", metavar="PATH",
                       help="grid/lm-eval outputs whose reports keep every key fact and invent none serve as further clean candidates; repeatable")
    audit.add_argument("--no-handwritten", action="store_true",
                       help="leave out the packaged hand-written damage of the test split (tasks/data/damaged_test.jsonl)")
    audit.add_argument("--judged", action="append", metavar="FILE",
                       help="real model outputs judged by reading: JSONL of {id, output, report, grade: 0-4, errors: [{type, quote}], "
                            "missing: [aspects]}; each metric's agreement with the grades is reported; repeatable")
    audit.add_argument("--no-judged", action="store_true",
                       help="leave out the packaged judged outputs of the test split (tasks/data/judged_test.jsonl)")
    audit.add_argument("--limit", type=positive_int, help="audit only the first N cases of each domain")
    audit.add_argument("--variants", type=positive_int, default=2, help="damaged copies per class and clean candidate (default 2)")
    audit.add_argument("--seed", type=int, default=0, help="seed of the damage and the bootstrap (default 0)")
    audit.add_argument("--metrics", help="comma-separated metrics (default: every content metric)")
    audit.add_argument("--also", action="append", metavar="KEY=VALUE[,KEY=VALUE]",
                       help="audit the model metrics under further metric options too (default: cross_encoder_mode=sts and "
                       "cross_encoder_mode=seed, reported as not audited when their hub models are not cached); repeatable")
    audit.add_argument("--publish", metavar="FILE",
                       help="also write the per-metric summary that leaderboards quote (the packaged one is metrics/validity.json)")
    _add_model_options(audit)
    audit.set_defaults(func=_metrics_audit)
    sheet = metric_commands.add_parser("judging-sheet", help="draw real outputs from runs into a file for readers to judge "
                                       "(then: reportbench metrics audit --judged FILE)")
    sheet.add_argument("runs", help="a runs folder (grid or lm-eval outputs) or a leaderboard's data/ export")
    sheet.add_argument("--out", required=True, help="JSONL to write (empty judgements to fill in); the reading sheet goes beside it as .md")
    sheet.add_argument("--data", help="the case file the runs were made on (default: the packaged cases)")
    sheet.add_argument("--cases-per-domain", type=positive_int, default=12, help="cases drawn per domain (default 12)")
    sheet.add_argument("--per-case", type=positive_int, default=5, help="outputs per case, each of another model (default 5)")
    sheet.add_argument("--seed", type=int, default=20261203, help="seed of the draw (default: the one of tasks/data/judged_test.jsonl)")
    sheet.set_defaults(func=_metrics_judging_sheet)
    trainer = metric_commands.add_parser("train-cross-encoder", help="train the fact-aware cross-encoder on the dev split (every stage of its recipe)")
    trainer.add_argument("--out", required=True, help="folder for weights.safetensors and training.json")
    trainer.add_argument("--max-steps", type=positive_int, help="stop each stage after this many steps (a quick check of the code path)")
    trainer.add_argument("--train-batch-size", type=positive_int,
                         help="(clean, damaged) pairs per step in every stage and the expert (default: each stage's own, 8)")
    trainer.add_argument("--seed", type=int, default=0, help="added to every stage's seed (default 0)")
    trainer.add_argument("--first-stages", help="a folder with the output of every stage but the last (OUT.stage2, or the "
                         "shipped model with --with-written): train only the last stage")
    trainer.add_argument("--with-written", action="store_true",
                         help="add the stage tried and not shipped: reports written for the dev cases (tasks/data/written_dev.jsonl)")
    trainer.add_argument("--written-styles", default="",
                         help="with --with-written: only these styles of the written reports (default: every style: "
                              "fields, compact, restructured, flawed)")
    trainer.add_argument("--class-weights", default="",
                         help="change how often the last stage draws these damage classes, NAME=WEIGHT,... (e.g. omission=5,swap=1); "
                              "the classes not named keep the recipe's weights")
    trainer.add_argument("--reference-share", type=float,
                         help="share (0-1) of the last stage's damaged draws that are copies of the reference (the hard "
                              "setting's near-copies); default: in proportion to how many there are")
    trainer.add_argument("--free-text-expert", choices=("train", "skip", "only"), default="train",
                         help="the free-text expert (OUT/free_text), trained after the recipe from its result: train (default), "
                              "skip, or only (from the finished model in --first-stages, copied to OUT)")
    trainer.add_argument("--compare-to", help="a trained folder (e.g. the shipped metrics/fact_cross_encoder): "
                         "score a fixed probe set with both and report the differences")
    trainer.add_argument("--tolerance", type=float, default=0.05, help="largest score difference accepted by --compare-to (default 0.05)")
    trainer.set_defaults(func=_metrics_train)

    grid = commands.add_parser("grid", help="run models x tasks x decoding settings; resumable and shardable")
    grid.add_argument("config", help="grid YAML (see grids/demo.yaml)")
    grid.add_argument("--output", default="runs", help="output folder (default: runs)")
    grid.add_argument("--shard", help="i/n: run only this machine's share of the cells")
    grid.add_argument("--limit", type=positive_int, help="cases per task, overriding the config")
    grid.add_argument("--dry-run", action="store_true", help="list the cells and whether each is done")
    grid.add_argument("--models", action="append", metavar="NAME[,NAME]", help="run only these models of the config (repeatable)")
    grid.set_defaults(func=_grid)

    board = commands.add_parser("leaderboard", help="markdown leaderboard, figures and data from finished runs")
    board.add_argument("runs", nargs="+", help="grid output folders, lm-eval output folders or a leaderboard's data/ folder; "
                       "several are combined (e.g. a page's data/ and new grid cells), each cell once")
    board.add_argument("--out", required=True, help="folder for README.md, the PNG figures and data/ (e.g. leaderboards/NAME)")
    board.add_argument("--metric", help="primary metric (default: fact_recall when every sample has it, else bi_encoder_cosine)")
    board.add_argument("--why", help="why this primary metric, one sentence printed after it on the page (kept in page.json)")
    board.add_argument("--title", help="page title (default: the --out folder name)")
    board.add_argument("--select", action="append", metavar="KEY=VALUE", help=SELECT_HELP)
    board.add_argument("--skip-damaged", action="store_true", help=SKIP_DAMAGED_HELP)
    board.set_defaults(func=_leaderboard)

    index = commands.add_parser("leaderboard-index", help="FOLDER/README.md: an index of the leaderboard pages below FOLDER")
    index.add_argument("folder", help="the folder that holds the pages (e.g. leaderboards)")
    index.set_defaults(func=_leaderboard_index)

    compare = commands.add_parser("compare", help="paired case-by-case comparison of two runs (B against A), as markdown")
    compare.add_argument("run_a", metavar="RUN_A", help="cell folder, grid/lm-eval output folder or samples file: the baseline")
    compare.add_argument("run_b", metavar="RUN_B", nargs="?", help="the same kinds: the candidate (e.g. a fine-tuned checkpoint)")
    compare.add_argument("--steps", metavar="TAG", help="instead of RUN_B: within RUN_A, each value of this numeric model tag "
                         "against the one before (e.g. training_cases: 0 -> 20 -> 40 ...), Holm-adjusted")
    compare.add_argument("--metric", action="append", help="metric to compare (repeatable; default: the leaderboard's primary metric)")
    compare.add_argument("--all-metrics", action="store_true", help="one row per metric that has a better direction")
    compare.add_argument("--where", action="append", metavar="KEY=VALUE", help="selection applied to both runs; " + SELECT_HELP)
    compare.add_argument("--select-a", action="append", metavar="KEY=VALUE", help="selection applied to RUN_A only")
    compare.add_argument("--select-b", action="append", metavar="KEY=VALUE", help="selection applied to RUN_B only")
    compare.add_argument("--resamples", type=positive_int, default=10_000, help="bootstrap resamples (default 10000)")
    compare.add_argument("--seed", type=int, default=1234, help="bootstrap seed (default 1234)")
    compare.add_argument("--tie-margin", type=float, default=0.0, help="|B - A| at or below this is a tie (default 0)")
    compare.add_argument("--out", help="also write the markdown to this file")
    compare.add_argument("--skip-damaged", action="store_true", help=SKIP_DAMAGED_HELP)
    compare.set_defaults(func=_compare)

    commands.add_parser(
        "lm-eval",
        help="run lm_eval with reportbench tasks included (all further arguments go to lm_eval)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `lm-eval` belongs to lm_eval, including -h.
    if argv and argv[0] == "lm-eval":
        from reportbench.lm_eval_cli import run

        return run(argv[1:])
    from reportbench.metrics.options import MetricOptionsError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MetricOptionsError as err:
        print(f"reportbench: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a grid's own handling (which says how to resume)
        print(f"reportbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
