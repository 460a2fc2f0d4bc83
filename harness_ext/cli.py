"""The `reportbench` command."""

from __future__ import annotations

import argparse
import sys

from reportbench import __version__
from reportbench.cases import DEV_SIZE, DOMAINS


def _model_path(args) -> int:
    from reportbench.models import ModelNotAvailable, model_path

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
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
