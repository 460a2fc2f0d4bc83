import pytest
from conftest import REPO, run_cli

from reportbench.cli import main
from reportbench.lm_eval_cli import (
    _new_results_files,
    _only_our_tasks,
    _pop_include_paths,
    _sampling_needs_do_sample,
    _without_builtin_tasks,
)


def test_tasks_dir_lists_the_eight_tasks_and_three_groups(capsys):
    assert main(["tasks-dir"]) == 0
    folder = capsys.readouterr().out.strip()
    names = sorted(p.name for p in __import__("pathlib").Path(folder).glob("reportbench*.yaml"))
    assert names == sorted(
        [f"reportbench_{d}_{m}.yaml" for d in ("pharma", "traffic") for m in "abcd"]
        + ["reportbench.yaml", "reportbench_pharma.yaml", "reportbench_traffic.yaml"]
    )


def test_model_path_unknown_alias_is_a_clean_error(tmp_path):
    result = run_cli(["reportbench", "model-path", "gpt-9"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "reportbench: unknown model alias 'gpt-9'; available: smollm2-135m, gemma3-270m"


def test_console_script_help_and_version(tmp_path):
    result = run_cli(["reportbench", "--help"], cwd=tmp_path)
    assert result.returncode == 0
    for command in ("model-path", "tasks-dir", "lm-eval"):
        assert command in result.stdout
    assert run_cli(["reportbench", "--version"], cwd=tmp_path).stdout.startswith("reportbench ")


def test_user_include_paths_are_kept_beside_ours():
    rest, include = _pop_include_paths(["--tasks", "x", "--include_path", "/a", "--include_path=/b", "--limit", "1"])
    assert rest == ["--tasks", "x", "--limit", "1"] and include == ["/a", "/b"]
    with pytest.raises(SystemExit, match="needs a folder"):
        _pop_include_paths(["--include_path"])


@pytest.mark.parametrize(
    "tasks, include, expected",
    [
        ("reportbench_pharma_d", [], True),
        ("reportbench,reportbench_traffic_a", [], True),
        (["reportbench_pharma", "reportbench_traffic_b"], [], True),
        ("reportbench_pharma_d,hellaswag", [], False),  # a built-in task needs lm-eval's own index
        ("reportbench_pharma_d", ["/my/tasks"], False),  # a user's folder may name built-in groups
        (None, [], False),
    ],
)
def test_only_runs_of_our_tasks_skip_lm_evals_builtin_index(tasks, include, expected):
    assert _only_our_tasks(tasks, include) is expected


def test_without_builtin_tasks_indexes_only_our_folder_and_restores_lm_eval():
    import lm_eval.tasks

    from reportbench.paths import tasks_dir

    full = lm_eval.tasks.TaskManager
    with _without_builtin_tasks():
        manager = lm_eval.tasks.TaskManager(include_path=str(tasks_dir()))
        assert "reportbench_pharma_d" in manager.all_tasks and "hellaswag" not in manager.all_tasks
    assert lm_eval.tasks.TaskManager is full


@pytest.mark.parametrize(
    "gen_kwargs, expected",
    [
        (None, False),
        ({"temperature": 0}, False),
        ({"temperature": 0.7}, True),
        ({"temperature": "0.7"}, True),
        ({"temperature": 0.7, "do_sample": False}, False),
        ({"top_p": 0.9}, False),
    ],
)
def test_temperature_without_do_sample_is_detected(gen_kwargs, expected):
    assert _sampling_needs_do_sample(gen_kwargs) is expected


def test_results_files_are_found_under_the_output_path(tmp_path):
    (tmp_path / "model").mkdir()
    old = tmp_path / "model" / "results_old.json"
    old.write_text("{}")
    new = tmp_path / "model" / "results_new.json"
    new.write_text("{}")
    import os

    os.utime(old, (1, 1))
    assert _new_results_files(str(tmp_path), since=100) == [new]
    assert _new_results_files(str(tmp_path / "missing"), since=0) == []
    assert _new_results_files(None, since=0) == []


def test_readme_shows_the_two_make_commands_first():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert [line.strip() for line in first_block.strip().splitlines()[-2:]] == ["make demo", "make test"]


def test_every_metric_option_is_a_flag_parsed_by_the_one_parser(capsys):
    from reportbench.cli import build_parser, main, options_from_args
    from reportbench.metrics import MetricOptions
    from reportbench.metrics.options import OPTION_NAMES

    parser = build_parser()
    for command in (["score", "--input", "i", "--output", "o"], ["metrics", "describe"], ["metrics", "build-bertscore-baseline"]):
        args = parser.parse_args([*command, *(f"--{name.replace('_', '-')}=1" for name in OPTION_NAMES if "mode" not in name)])
        assert all(getattr(args, name) == "1" for name in OPTION_NAMES if "mode" not in name)
    args = parser.parse_args(["metrics", "describe", "--device", "cuda:1", "--batch-size", "4", "--cross-encoder-mode", "seed"])
    assert options_from_args(args) == MetricOptions(metric_device="cuda:1", metric_batch_size=4, cross_encoder_mode="seed")
    assert main(["metrics", "describe", "--cross-encoder-mode", "fancy"]) == 2
    assert "reportbench: command line: cross_encoder_mode must be one of fact, sts, seed" in capsys.readouterr().err


@pytest.mark.parametrize("model, gen_kwargs, expected_model, expected_kwargs", [
    ("hf", {"structured_output": "json"}, "reportbench-hf", {"structured_output": "json"}),
    ("vllm", {"structured_output": "json", "temperature": 0}, "reportbench-vllm", {"structured_output": "json", "temperature": 0}),
    ("hf", {"structured_output": "none"}, "hf", {}),
    ("reportbench-hf", {"structured_output": "json"}, "reportbench-hf", {"structured_output": "json"}),
    ("hf", {"temperature": 0}, "hf", {"temperature": 0}),
])
def test_structured_output_routes_to_the_constrained_model(model, gen_kwargs, expected_model, expected_kwargs):
    from argparse import Namespace

    from reportbench.lm_eval_cli import _route_structured_output

    args = Namespace(model=model, gen_kwargs=dict(gen_kwargs))
    _route_structured_output(args)
    assert (args.model, args.gen_kwargs) == (expected_model, expected_kwargs)


@pytest.mark.parametrize("model, gen_kwargs, message", [
    ("hf", {"structured_output": "xml"}, "must be one of none, json"),
    ("local-completions", {"structured_output": "json"}, "works with --model hf or vllm"),
])
def test_structured_output_refusals(model, gen_kwargs, message):
    from argparse import Namespace

    from reportbench.lm_eval_cli import _route_structured_output

    with pytest.raises(SystemExit, match=message):
        _route_structured_output(Namespace(model=model, gen_kwargs=gen_kwargs))


def test_lm_eval_gen_kwargs_are_range_checked(tmp_path):
    """The grid's range checks hold for `reportbench lm-eval --gen_kwargs` too: refused before any model loads."""
    result = run_cli(["reportbench", "lm-eval", "--model", "hf", "--model_args", "pretrained=no-such-org/no-such-model",
                      "--tasks", "reportbench_traffic_d", "--gen_kwargs", "top_p=1.5,temperature=1.0"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "reportbench lm-eval: --gen_kwargs top_p: must be a number with 0 < top_p <= 1, got 1.5" in result.stderr
