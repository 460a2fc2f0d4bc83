"""Property tests (hypothesis): the parser, the case loader and every text metric hold their promises
on any input, not only on the inputs someone thought of. 1,000 examples per property (conftest)."""

import csv
import io
import json
import math
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reportbench.cases import CaseFileError, read_cases
from reportbench.metrics import METRICS, ScoringInput
from reportbench.metrics.schema import KEY_FIELDS
from reportbench.parsing import ParsedReport, parse_report

# JSON values, nested; dumped and mixed with prose, fences and stray braces they look like model output.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["title", "report", "Report", "x"]) | st.text(max_size=5),
                                                                      children, max_size=4),
    max_leaves=20,
)
PIECES = st.one_of(
    st.text(max_size=40),
    JSON_VALUES.map(json.dumps),
    st.sampled_from(["{", "}", "[", "]", '"', "\\", "```", "```json\n", '"report": "', '{"title": "T", "report": "', "\n\n"]),
)
GENERATIONS = st.one_of(st.text(), st.lists(PIECES, max_size=12).map("".join))


@given(GENERATIONS)
def test_parse_report_never_raises_and_returns_text(generation):
    parsed = parse_report(generation)
    assert isinstance(parsed, ParsedReport) and isinstance(parsed.title, str) and isinstance(parsed.report, str)
    assert parsed.method in ("json", "fenced_json", "embedded_json", "partial_json", "plain_text")
    assert not (parsed.json_valid and parsed.truncated)
    assert ParsedReport.from_json(parsed.to_json()) == parsed


@given(st.text(max_size=60), st.text(max_size=200), st.text(max_size=30))
def test_a_report_object_in_prose_is_found(title, report, prose):
    answer = json.dumps({"title": title, "report": report})
    parsed = parse_report(f"{prose.replace('{', '(')} {answer}")
    assert parsed.json_valid and parsed.report == report.strip() and parsed.title == title.strip()


@pytest.mark.parametrize("text", [
    "{" * 1_000_000, '{"' * 500_000, "}" * 1_000_000, "{}" * 500_000, "```" * 300_000, '{"report": "' + "\\" * 1_000_001,
    '{"a": "{' * 200_000, "[" * 1_000_000,
])
def test_parse_report_is_linear_on_adversarial_input(text):
    start = time.perf_counter()
    parse_report(text)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("text, method", [
    ('{"report": ' * 900 + '"deep"' + "}" * 900, "json"),  # used to raise RecursionError in the flattening
    ('{"report": "x", "n": ' + "9" * 5000 + "}", "partial_json"),  # an int too long to convert: ValueError before
    ('{"title": "T", "report": "R"} ' + '{"n": ' + "9" * 5000 + "}", "embedded_json"),
])
def test_parse_report_regressions(text, method):
    assert parse_report(text).method == method


def test_parse_report_refuses_non_strings_by_type():
    for value in (42, b"bytes", ["a"], {"report": "x"}):
        with pytest.raises(TypeError, match="parse_report expects the generated text as a str"):
            parse_report(value)


# ---------------------------------------------------------------- the case loader

FIELDS = ["id", "report_name", *KEY_FIELDS, "event_description", "split"]
CELLS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


def _read(suffix: str, content: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"cases{suffix}"
        path.write_bytes(content)
        try:
            return read_cases(path)
        except CaseFileError as err:  # the only way it may fail: every problem named with file and line
            assert err.problems and all(str(p).startswith(str(path)) for p in err.problems)
            return None


@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".csv"]))
def test_case_loader_names_problems_in_any_bytes(content, suffix):
    _read(suffix, content)


@given(st.lists(st.dictionaries(st.sampled_from(FIELDS + ["extra"]), CELLS | st.integers() | st.none(), max_size=12), max_size=4))
def test_case_loader_on_any_jsonl_rows(rows):
    cases = _read(".jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    if cases is not None:
        assert all(isinstance(v, str) for case in cases for v in case.values())


@given(st.lists(st.lists(CELLS, min_size=len(FIELDS), max_size=len(FIELDS)), min_size=1, max_size=4),
       st.sampled_from([",", ";", "\t"]))
def test_case_loader_reads_csv_in_any_delimiter(rows, delimiter):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(FIELDS)
    writer.writerows(rows)
    cases = _read(".csv", buffer.getvalue().encode("utf-8"))
    if cases is not None:  # a row with empty or invalid fields is refused by name; the rest read cell for cell
        assert len(cases) == sum(any(c.strip() for c in row) for row in rows)


# ---------------------------------------------------------------- every text metric

TEXT_METRICS = [m for m in METRICS.values() if not m.batched and not m.needs & {"model"}]
TEXTS = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(
    ["On", "2025-03-14", "at", "06:40", "batch", "MT5-2207", "Dr.", "Arjun", "Menon", "not", "12", "mg", ".", ",", "\n\n", "- ", "Here is"]),
    max_size=40).map(" ".join))


@given(TEXTS, TEXTS, TEXTS, st.dictionaries(st.sampled_from(KEY_FIELDS), TEXTS))
def test_text_metrics_are_defined_on_any_text(prediction, reference, title, fields):
    sample = ScoringInput(prediction, reference, predicted_title=title, reference_title=reference[:40],
                          fields={name: fields.get(name, "") for name in KEY_FIELDS})
    assert {m.name for m in TEXT_METRICS} >= {"rouge1", "bleu", "length_ratio", "fact_recall", "hallucinated_facts", "preamble"}
    for metric in TEXT_METRICS:
        value = metric.score(sample)
        if metric.name == "length_ratio" and not reference.split():
            assert math.isnan(value)  # undefined for an empty reference, and only then
            continue
        assert math.isfinite(value), metric.name
        if metric.similarity:
            assert 0.0 <= value <= 1.0, metric.name
