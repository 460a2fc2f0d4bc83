import json

import pytest

from reportbench.parsing import ParsedReport, parse_report

REPORT = "On 2025-03-14 at 06:40 the granulator stopped."


@pytest.mark.parametrize(
    "generation, title, report, json_valid, method",
    [
        ('{"title": "Stop", "report": "%s"}' % REPORT, "Stop", REPORT, True, "json"),
        ('  \n{"Title": "Stop", "REPORT": "%s"}\n' % REPORT, "Stop", REPORT, True, "json"),
        ('```json\n{"title": "Stop", "report": "%s"}\n```' % REPORT, "Stop", REPORT, True, "fenced_json"),
        ('Sure!\n```\n{"title": "Stop", "report": "%s"}\n```\nDone.' % REPORT, "Stop", REPORT, True, "fenced_json"),
        ('Here is the report: {"title": "Stop", "report": "%s"} Hope it helps.' % REPORT, "Stop", REPORT, True, "embedded_json"),
        ('{"meta": 1} then {"title": "Stop", "report": "%s"}' % REPORT, "Stop", REPORT, True, "embedded_json"),
        ('{"title": "Stop", "report": {"summary": "A", "details": ["B", "C"]}}', "Stop", "A B C", True, "json"),
        ('{"report": "%s"}' % REPORT, "", REPORT, True, "json"),
        ('{"title": "Stop", "report": "On 2025-03-14 the gran', "Stop", "On 2025-03-14 the gran", False, "partial_json"),
        ('{"title": "Stop", "report": "a \\"quoted\\" wor', "Stop", 'a "quoted" wor', False, "partial_json"),
        ("Title: Stop\n\n" + REPORT, "", "Title: Stop\n\n" + REPORT, False, "plain_text"),
        ('{"title": "Stop", "body": "no report key"}', "", '{"title": "Stop", "body": "no report key"}', False, "plain_text"),
        ('["title", "report"]', "", '["title", "report"]', False, "plain_text"),
        ("", "", "", False, "plain_text"),
        ("   \n\t ", "", "", False, "plain_text"),
        (None, "", "", False, "plain_text"),
        ('{"title": "Überlauf", "report": "Température 8,4 °C — 東京"}', "Überlauf", "Température 8,4 °C — 東京", True, "json"),
    ],
)
def test_parse_report(generation, title, report, json_valid, method):
    parsed = parse_report(generation)
    assert (parsed.title, parsed.report, parsed.json_valid, parsed.method) == (title, report, json_valid, method)


@pytest.mark.parametrize(
    "generation",
    ["{" * 5000, "[" * 100000, '{"report": ' * 3000, "x" * 10000, "{" + '"a":"' * 2000, "\x00\ud800 odd", "}{" * 3000],
)
def test_parse_report_never_raises_on_hostile_text(generation):
    parsed = parse_report(generation)
    assert isinstance(parsed.report, str) and parsed.json_valid is False


def test_parsed_report_round_trips_through_json():
    parsed = parse_report('```json\n{"title": "T", "report": "R é"}\n```')
    assert ParsedReport.from_json(parsed.to_json()) == parsed
    assert json.loads(parsed.to_json())["json_valid"] is True


def test_a_cut_json_answer_is_truncated_and_not_valid():
    cut = parse_report('{"title": "Stop", "report": "On 2025-03-14 the gran')
    assert cut.truncated and not cut.json_valid and cut.report == "On 2025-03-14 the gran"
    for before_report in ('{"title": "Stop at line', '{"title": "Stop"', '{"title": "Stop", '):
        early = parse_report(before_report)
        assert (early.truncated, early.json_valid, early.method, early.report) == (True, False, "plain_text", before_report.strip())
    for not_cut in ('{"title": "Stop", "report": "x"}', "plain text that ran out of toke", '{"title": "a" "report": "b"}',
                    'Sure: {"title": "x', '{"title": "a\x1fb", "report": "c"}'):
        assert not parse_report(not_cut).truncated, not_cut
