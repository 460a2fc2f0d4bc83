"""The task and group YAMLs are the generator's output, and lm-eval reads them as tasks and groups."""

import subprocess

import pytest
import yaml
from conftest import BIN, REPO

from reportbench.metrics import REGISTRY, TASK_METRICS
from reportbench.tasks import _generate_configs as generator
from reportbench.tasks.names import GROUPS, TASKS, parse_task_name, task_name

TASKS_DIR = REPO / "tasks"


def load(text: str) -> dict:
    return yaml.safe_load(text.replace("!function", ""))  # tags only matter to lm-eval


@pytest.mark.parametrize("name", sorted(generator.configs()))
def test_every_yaml_equals_the_generators_output(name):
    assert (TASKS_DIR / name).read_text() == generator.configs()[name], f"run: python tasks/_generate_configs.py ({name})"


def test_no_yaml_is_left_out_of_the_generator():
    assert generator.stale(TASKS_DIR) == []
    assert sorted(p.name for p in TASKS_DIR.glob("*.yaml")) == sorted(f"{n}.yaml" for n in (*TASKS, *GROUPS))


def test_check_mode_finds_a_hand_edit(tmp_path):
    for name, text in generator.configs().items():
        (tmp_path / name).write_text(text)
    assert generator.stale(tmp_path) == []
    (tmp_path / "reportbench_pharma_a.yaml").write_text("task: edited\n")
    (tmp_path / "reportbench_extra.yaml").write_text("task: extra\n")
    assert generator.stale(tmp_path) == ["reportbench_extra.yaml", "reportbench_pharma_a.yaml"]
    result = subprocess.run([str(BIN / "python"), str(TASKS_DIR / "_generate_configs.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_metric_lists_follow_the_registry():
    template = load(generator.configs()[generator.TEMPLATE])
    assert [m["metric"] for m in template["metric_list"]] == list(TASK_METRICS)
    assert [m["higher_is_better"] for m in template["metric_list"]] == [m.higher_is_better for m in REGISTRY]
    for group in GROUPS:
        aggregates = load(generator.configs()[f"{group}.yaml"])["aggregate_metric_list"]
        assert [a["metric"] for a in aggregates] == list(TASK_METRICS)
        assert {a["filter_list"] for a in aggregates} == {generator.FILTER}


def test_lm_eval_indexes_the_tasks_and_groups():
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    assert set(TASKS) <= set(manager.all_tasks) and set(GROUPS) <= set(manager.all_groups)
    assert manager.task_index["reportbench_pharma"].cfg["task"] == [task_name("pharma", m) for m in "ABCD"]


def test_task_names_round_trip():
    assert [parse_task_name(t) for t in TASKS[:2]] == [("pharma", "A"), ("pharma", "B")]
    for bad in ("reportbench_pharma", "reportbench_cars_a", "reportbench_pharma_e", "other_pharma_a"):
        with pytest.raises(ValueError, match="is not a reportbench prompt task"):
            parse_task_name(bad)
