"""The wheel a user installs: one `reportbench` namespace, with task YAMLs and data inside."""

import subprocess
import sys
import zipfile

import pytest
from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("reportbench-*.whl")
    return zipfile.ZipFile(wheel)


@pytest.fixture(scope="module")
def wheel_names(wheel):
    return wheel.namelist()


def test_only_the_reportbench_namespace_is_installed(wheel_names):
    top_level = {name.split("/")[0] for name in wheel_names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"reportbench"}


def test_tasks_data_and_metrics_ship_in_the_wheel(wheel_names):
    expected = {
        "reportbench/cli.py",
        "reportbench/tasks/utils.py",
        "reportbench/tasks/_report_template_yaml",
        "reportbench/tasks/reportbench.yaml",
        "reportbench/tasks/reportbench_traffic_d.yaml",
        "reportbench/tasks/README.md",
        "reportbench/tasks/data/pharma.jsonl",
        "reportbench/tasks/data/traffic.jsonl",
        "reportbench/metrics/lexical.py",
        "reportbench/tasks/data/rewrites.jsonl",
        "reportbench/tasks/data/damaged_test.jsonl",
        "reportbench/tasks/data/judged_test.jsonl",
        "reportbench/tasks/data/written_dev.jsonl",
        "reportbench/tasks/data/judged_dev.jsonl",
        "reportbench/metrics/validity.json",
        "reportbench/metrics/judge_rubric.yaml",
        "reportbench/metrics/fact_cross_encoder/weights.safetensors",
        "reportbench/metrics/fact_cross_encoder/training.json",
    }
    assert expected <= set(wheel_names)


def test_console_script_entry_point(wheel):
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    assert "reportbench = reportbench.cli:main" in wheel.read(entry_points).decode()
