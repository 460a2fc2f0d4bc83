"""`reportbench lm-eval ...`: lm-eval's own CLI, run in-process with our tasks included.

lm-eval's --include_path takes one folder; its TaskManager accepts a list, so a
user's own --include_path is kept alongside ours instead of replacing it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from unittest import mock

from reportbench.decoding import implies_sampling
from reportbench.metrics.judge import journal_summary, take_journal
from reportbench.paths import tasks_dir
from reportbench.records import LmEvalOutput, write_judge_log
from reportbench.summaries import write_run_summary


def _pop_include_paths(argv: list[str]) -> tuple[list[str], list[str]]:
    rest, include = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--include_path":
            value = next(args, None)
            if value is None:
                raise SystemExit("reportbench lm-eval: --include_path needs a folder")
            include.append(value)
        elif arg.startswith("--include_path="):
            include.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return rest, include


def _route_structured_output(args) -> None:
    """`--gen_kwargs structured_output=json` needs a model type that turns it into a constraint (constrained.py)."""
    from reportbench.constrained import CONSTRAINED_MODELS, SETTING, register_models
    from reportbench.decoding import DEFAULTS, DecodingError, structured_output

    register_models()  # --model reportbench-hf / reportbench-vllm work too
    gen_kwargs = getattr(args, "gen_kwargs", None)
    if not isinstance(gen_kwargs, dict) or SETTING not in gen_kwargs:
        return
    try:
        mode = structured_output(str(gen_kwargs[SETTING]))
    except DecodingError as err:
        raise SystemExit(f"reportbench lm-eval: --gen_kwargs {err}") from None
    if mode == DEFAULTS[SETTING]:
        del gen_kwargs[SETTING]  # free decoding: lm-eval's own models as they are
        return
    model = getattr(args, "model", "hf")
    if model in CONSTRAINED_MODELS:
        print(f"reportbench: {SETTING}={mode} runs with --model {CONSTRAINED_MODELS[model]} (lm-eval's {model} plus the constraint)",
              file=sys.stderr)
        args.model = CONSTRAINED_MODELS[model]
    elif model not in CONSTRAINED_MODELS.values():
        raise SystemExit(f"reportbench lm-eval: {SETTING}={mode} works with --model {' or '.join(CONSTRAINED_MODELS)}, not {model!r}")


def _check_gen_kwargs(gen_kwargs: dict | None) -> None:
    """The grid's range checks for the decoding values of `--gen_kwargs` (lm-eval passes any number on)."""
    from reportbench.decoding import NUMERIC_COLUMNS, DecodingError, checked

    for key in NUMERIC_COLUMNS:
        if isinstance(gen_kwargs, dict) and key in gen_kwargs:
            try:
                checked(key, gen_kwargs[key])
            except DecodingError as err:
                raise SystemExit(f"reportbench lm-eval: --gen_kwargs {err}") from None


def _sampling_needs_do_sample(gen_kwargs: dict | None) -> bool:
    """A temperature without do_sample decodes greedily in HF; the user meant to sample."""
    return bool(gen_kwargs) and "do_sample" not in gen_kwargs and implies_sampling(gen_kwargs)


def _new_results_files(output_path: str | None, since: float) -> list[Path]:
    if not output_path:
        return []
    root = Path(output_path)
    root = root.parent if root.suffix == ".json" else root
    if not root.exists():
        return []
    return [output.results for output in LmEvalOutput.find(root) if output.results.stat().st_mtime >= since]


def _only_our_tasks(tasks, user_include: list[str]) -> bool:
    """Every requested task is one of reportbench's tasks or groups (and no other folder is included)."""
    from reportbench.tasks.names import GROUPS, TASKS

    if user_include or not tasks:
        return False
    names = [t.strip() for task in ([tasks] if isinstance(tasks, str) else tasks) for t in str(task).split(",")]
    return all(name in TASKS or name in GROUPS for name in names if name)


def _without_builtin_tasks() -> contextlib.AbstractContextManager:
    """lm-eval indexes its ~14.7k built-in task YAMLs on every run (12 s on 2 cores); a run of only our
    tasks needs none of them, so while this is open its TaskManager is built with include_defaults=False."""
    import lm_eval.tasks

    class OursOnly(lm_eval.tasks.TaskManager):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("include_defaults", False)
            super().__init__(*args, **kwargs)

    return mock.patch.object(lm_eval.tasks, "TaskManager", OursOnly)


def run(argv: list[str]) -> int:
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    rest, user_include = _pop_include_paths(argv)
    if not rest:
        rest = ["--help"]
    setup_logging()
    parser = HarnessCLI()
    sys.argv = ["lm_eval", *rest]
    args = parser.parse_args()
    if hasattr(args, "include_path"):
        paths = [str(tasks_dir()), *user_include]
        args.include_path = paths[0] if len(paths) == 1 else paths
    _check_gen_kwargs(getattr(args, "gen_kwargs", None))
    _route_structured_output(args)
    if _sampling_needs_do_sample(getattr(args, "gen_kwargs", None)):
        print("reportbench: temperature > 0 given without do_sample; adding do_sample=True", file=sys.stderr)
        args.gen_kwargs["do_sample"] = True
    started = time.time() - 1
    take_journal()
    ours_only = _only_our_tasks(getattr(args, "tasks", None), user_include)
    with _without_builtin_tasks() if ours_only else contextlib.nullcontext():
        parser.execute(args)
    judged = take_journal()
    results_files = _new_results_files(getattr(args, "output_path", None), started)
    if judged:
        if results_files:
            log = write_judge_log(LmEvalOutput(results_files[0]).judge_log_file(), judged)
            print(f"reportbench: judge log ({journal_summary(judged)}) written to {log}")
        else:
            print(f"reportbench: {journal_summary(judged)}; add --output_path to keep the judge log", file=sys.stderr)
    for path in results_files:
        print(f"reportbench: results JSON written to {path}")
        summary = write_run_summary(path)
        if summary is None:
            print("reportbench: add --log_samples for per-task bootstrap confidence intervals")
            continue
        summary_path, table = summary
        print("\nreportbench summary: mean [95% bootstrap CI] per task\n" + table)
        print(f"reportbench: n, mean, std and CI of every metric written to {summary_path}")
    return 0
