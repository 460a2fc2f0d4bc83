"""The metric-validity audit: its data, its pairing and rates, its controls and its command."""

from __future__ import annotations

import difflib
import json
import re

import numpy as np
import pandas as pd
import pytest

from reportbench import audit
from reportbench.cases import read_cases
from reportbench.cli import main
from reportbench.damage import DAMAGE_CLASSES
from reportbench.metrics.facts import person_names
from reportbench.paths import packaged_data_dir

DATA = packaged_data_dir()
CASES = {c["id"]: c for d in ("pharma", "traffic") for c in read_cases(DATA / f"{d}.jsonl")}


def test_every_case_has_one_faithful_rewrite_that_keeps_its_facts_and_changes_its_wording():
    rows = [json.loads(line) for line in (DATA / audit.REWRITES_FILE).read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == list(CASES)
    for row in rows:
        case, rewrite = CASES[row["id"]], row["rewrite"]
        reference = case["event_description"]
        assert row["split"] == case["split"]
        digit_tokens = [t.strip(".,;:()") for t in reference.split() if re.search(r"\d", t)]
        assert all(t in rewrite for t in digit_tokens), row["id"]
        assert all(name in rewrite for name in person_names(case["who"])), row["id"]
        assert 0.75 <= len(rewrite) / len(reference) <= 1.25, row["id"]
        assert "\n" not in rewrite
        # clearly reworded: well under a near-copy's word-sequence similarity
        assert difflib.SequenceMatcher(a=reference.split(), b=rewrite.split(), autojunk=False).ratio() < 0.8, row["id"]


def test_the_hand_written_damage_file_covers_the_test_split_and_reads_cleanly():
    test_cases = {i: c for i, c in CASES.items() if c["split"] == "test"}
    candidates = audit.read_candidate_file(DATA / audit.HANDWRITTEN_FILE, test_cases)
    assert {c.case_id for c in candidates} == set(test_cases)
    per_case = pd.Series([c.case_id for c in candidates]).value_counts()
    assert (per_case == 9).all()
    kinds = {(c.role, c.kind, c.base == "reference") for c in candidates}
    for damage_class in ("fact_change", "omission", "invented", "negation"):
        assert ("damaged", damage_class, True) in kinds and ("damaged", damage_class, False) in kinds
    with pytest.raises(audit.AuditInputError, match="is not a case of the audited split"):
        audit.read_candidate_file(DATA / audit.HANDWRITTEN_FILE, {i: c for i, c in CASES.items() if c["split"] == "dev"})


@pytest.mark.parametrize("line,message", [
    ('{"id": "pharma-003", "kind": "good", "text": "x"}', "field 'kind'"),
    ('{"id": "pharma-003", "kind": "damaged", "text": "x", "base": "reference"}', "field 'damage'"),
    ('{"id": "pharma-003", "kind": "damaged", "text": "x", "base": "copy", "damage": "negation"}', "field 'base'"),
    ('{"id": "pharma-003", "kind": "faithful", "text": ""}', "field 'text'"),
    ('not json', "invalid JSON"),
])
def test_a_bad_candidate_row_is_named_by_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "candidates.jsonl"
    path.write_text('{"id": "pharma-003", "kind": "faithful", "text": "fine"}\n' + line + "\n")
    with pytest.raises(audit.AuditInputError, match=re.escape(f"{path}:2: ") + ".*" + re.escape(message)):
        audit.read_candidate_file(path, CASES)


def test_a_damaged_rewrite_needs_its_faithful_row(tmp_path):
    path = tmp_path / "candidates.jsonl"
    path.write_text('{"id": "pharma-003", "kind": "damaged", "text": "x", "base": "rewrite", "damage": "negation"}\n')
    with pytest.raises(audit.AuditInputError, match="no faithful row"):
        audit.read_candidate_file(path, CASES)


def test_ties_count_half_and_direction_is_respected():
    clean, damaged = np.array([0.9, 0.5, 0.2]), np.array([0.1, 0.5, 0.3])
    assert audit._preference(clean, damaged, True).tolist() == [1.0, 0.5, 0.0]
    assert audit._preference(clean, damaged, False).tolist() == [0.0, 0.5, 1.0]
    assert audit.bootstrap_ci(np.array([1.0, 1.0])) == (1.0, 1.0)
    low, high = audit.bootstrap_ci(np.array([0.0, 1.0, 1.0, 0.5, 1.0, 0.0]))
    assert 0 <= low < high <= 1


@pytest.fixture(scope="module")
def text_audit():
    """The audit of six test cases with text metrics only (no model)."""
    cases = audit.load_audit_cases("test", None, limit=3)
    return audit.run_audit(cases, audit.packaged_rewrites(), audit.MetricOptions(),
                           candidate_files=[str(DATA / audit.HANDWRITTEN_FILE)],
                           metrics=["rougeL", "bleu", "fact_recall", "hallucinated_facts"],
                           skip_ids=audit.skipped_by_limit("test", None, cases))


def test_audit_rates_cover_every_class_in_both_settings(text_audit):
    rates = text_audit.rates
    generated = rates[rates["source"] == "generated"]
    for setting in audit.SETTINGS:
        classes = set(generated.loc[generated["setting"] == setting, "class"])
        assert classes >= set(DAMAGE_CLASSES) - {"swap"} | {"one_fact_mean"}, setting
    assert rates["rate"].between(0, 1).all() and (rates["ci_low"] <= rates["rate"] + 1e-9).all()
    assert (rates["rate"] <= rates["ci_high"] + 1e-9).all() and (rates["n_cases"] <= 6).all()
    handwritten = rates[rates["source"] == audit.HANDWRITTEN_FILE]
    assert set(handwritten["class"]) == {"fact_change", "omission", "invented", "negation"}


def test_audit_reproduces_what_surface_metrics_miss(text_audit):
    rate = text_audit.rates.set_index(["metric", "setting", "source", "class"])["rate"]
    # A near-copy with a wrong date beats a faithful rewrite on every surface-overlap metric...
    assert rate["rougeL", "hard", "generated", "date"] < 0.2
    assert rate["bleu", "hard", "generated", "one_fact_mean"] < 0.2
    # ...while the fact check catches the changed date, and cannot see a negation (a tie, counted half).
    assert rate["fact_recall", "hard", "generated", "date"] == 1.0
    assert rate["hallucinated_facts", "easy", "generated", "negation"] == 0.5


def test_controls_are_reported_per_metric(text_audit):
    controls = text_audit.controls.set_index(["metric", "control"])["rate"]
    assert controls["rougeL", "reference_ge_rewrites"] == 1.0  # the reference is its own best match
    assert controls["fact_recall", "reference_gt_damaged"] == 0.0  # a negation leaves every fact in place
    assert set(text_audit.controls["control"]) == set(audit.CONTROL_CHECKS)


def test_audit_writes_table_figure_and_data(text_audit, tmp_path):
    written = audit.write(text_audit, tmp_path, {"rougeL": ["date"]})
    assert {p.name for p in written} >= {"audit.md", "audit.png", "rates.csv", "controls.csv", "candidates.jsonl", "audit.json"}
    page = (tmp_path / "audit.md").read_text()
    assert "## hard setting — generated damage" in page and "## Controls" in page and " †" in page
    assert (tmp_path / "audit.png").read_bytes()[:4] == b"\x89PNG"
    candidates = pd.read_json(tmp_path / "candidates.jsonl", lines=True)
    assert {"reference", "faithful", "damaged", "control"} <= set(candidates["role"])


def test_faithful_run_outputs_become_clean_candidates(tmp_path):
    case = next(c for c in CASES.values() if c["split"] == "test")
    rewrite = audit.packaged_rewrites()[case["id"]][0]
    rows = [{"id": case["id"], "prediction": rewrite, "reference": case["event_description"], **case},
            {"id": case["id"], "prediction": "A short report without facts.", "reference": case["event_description"], **case}]
    runs = tmp_path / "run" / "samples.jsonl"
    runs.parent.mkdir()
    runs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = audit.faithful_run_outputs([tmp_path / "run"], {case["id"]: case})
    assert found == {case["id"]: [rewrite]}


def test_audit_command_refuses_bad_input_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "pharma-003", "kind": "faithful"}\n')
    assert main(["metrics", "audit", "--out", str(tmp_path / "a"), "--limit", "1", "--candidates", str(bad), "--metrics", "rougeL"]) == 2
    assert f"{bad}:1: field 'text'" in capsys.readouterr().err
    assert main(["metrics", "audit", "--out", str(tmp_path / "a"), "--metrics", "words"]) == 2
    assert "not auditable: words" in capsys.readouterr().err


@pytest.mark.slow
def test_audit_command_with_the_model_metrics(tmp_path, capsys):
    """The real command on one case per domain: every model metric, the embedded cross-encoder and its
    hub modes (not cached offline, so reported as not audited), hand-written damage, --publish."""
    out = tmp_path / "audit"
    assert main(["metrics", "audit", "--out", str(out), "--limit", "1", "--variants", "1",
                 "--publish", str(tmp_path / "validity.json")]) == 0
    page = (out / "audit.md").read_text()
    for metric in ("cross_encoder", "bi_encoder_cosine", "bertscore_f1", "rougeL", "fact_recall"):
        assert f"| {metric} " in page, metric
    assert "## Not audited" in page and "cross_encoder [cross_encoder_mode=sts]" in page
    assert "bi_encoder_cosine [cross_encoder_mode=sts]" not in page  # the variant changes only the cross-encoder
    assert "† held out of the metric's training: `cross_encoder`" in page
    rates = pd.read_csv(out / "rates.csv")
    assert set(rates["source"]) == {"generated", audit.HANDWRITTEN_FILE} and rates["n_cases"].max() == 2
    summary = json.loads((tmp_path / "validity.json").read_text())
    assert set(summary["metrics"]["cross_encoder"]["generated"]) == {"easy", "hard"}
    sentence = audit.validity_sentence("cross_encoder", tmp_path / "validity.json")
    assert sentence.startswith("Validity of `cross_encoder`") and "one-fact changes" in sentence
    assert audit.validity_sentence("cross_encoder", tmp_path / "missing.json") is None
