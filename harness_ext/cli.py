"""The `reportbench` command."""

from __future__ import annotations

import argparse
import sys

from reportbench import __version__


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reportbench", description="Incident-report benchmark for lm-evaluation-harness.")
    parser.add_argument("--version", action="version", version=f"reportbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    model = commands.add_parser("model-path", help="print the local folder of an embedded model (built on first use)")
    model.add_argument("alias", help="embedded model alias, e.g. smollm2-135m")
    model.set_defaults(func=_model_path)

    tasks = commands.add_parser("tasks-dir", help="print the task folder, for lm_eval --include_path")
    tasks.set_defaults(func=_tasks_dir)

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
