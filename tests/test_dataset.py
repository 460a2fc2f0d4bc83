"""Quality gates on the shipped case files."""

import itertools

import pytest

from reportbench.cases import DEV_SIZE, DOMAINS, assign_splits, read_cases
from reportbench.metrics.facts import missing_facts
from reportbench.paths import packaged_data_dir
from reportbench.prompts import WORKED_EXAMPLES


@pytest.fixture(scope="module", params=DOMAINS)
def shipped(request):
    return request.param, read_cases(packaged_data_dir() / f"{request.param}.jsonl", request.param)


def test_at_least_110_cases(shipped):
    domain, cases = shipped
    assert len(cases) >= 110
    assert [c["id"] for c in cases] == sorted(c["id"] for c in cases)


def test_split_is_deterministic_80_dev_and_the_rest_test(shipped):
    _, cases = shipped
    splits = [c["split"] for c in cases]
    assert splits.count("dev") == DEV_SIZE and splits.count("test") >= 30
    assert {c["id"]: c["split"] for c in cases} == assign_splits([c["id"] for c in cases])


def test_reference_reports_hold_every_key_fact(shipped):
    _, cases = shipped
    misses = {c["id"]: [f"{f.kind} {f.text!r}" for f in missing_facts(c, c["event_description"])] for c in cases}
    assert {k: v for k, v in misses.items() if v} == {}


def test_reference_reports_are_one_paragraph_of_250_to_700_characters(shipped):
    _, cases = shipped
    bad = {c["id"]: len(c["event_description"]) for c in cases
           if not 250 <= len(c["event_description"]) <= 700 or "\n" in c["event_description"]}
    assert bad == {}


def test_titles_are_short_and_unique(shipped):
    _, cases = shipped
    titles = [c["report_name"].strip().casefold() for c in cases]
    assert len(set(titles)) == len(titles)
    assert all(3 <= len(t.split()) <= 12 for t in titles)


def test_worked_examples_are_not_in_the_data(shipped):
    _, cases = shipped
    markers = set()
    for example in WORKED_EXAMPLES.values():
        markers |= {example["title"], example["report"][:60]}
        markers |= {name.split(" (")[0].strip() for name in example["fields"]["who"].split(";")}
    markers |= {"DEV-2023-0458", "G23-1180", "PT-2023-0815", "Northfield site", "Harbour Road"}
    for case in cases:
        text = " ".join(case.values())
        assert not [m for m in markers if m in text], case["id"]


def test_no_two_reference_reports_are_near_duplicates():
    from sentence_transformers import SentenceTransformer

    from reportbench.metrics.encoders import encoder_path

    cases = [c for d in DOMAINS for c in read_cases(packaged_data_dir() / f"{d}.jsonl", d)]
    encoder = SentenceTransformer(str(encoder_path("all-minilm-l6-v2")), device="cpu")
    embeddings = encoder.encode([c["event_description"] for c in cases], normalize_embeddings=True, batch_size=64)
    similarity = embeddings @ embeddings.T
    pairs = [
        (cases[i]["id"], cases[j]["id"], round(float(similarity[i, j]), 3))
        for i, j in itertools.combinations(range(len(cases)), 2)
        if similarity[i, j] > 0.95
    ]
    assert pairs == []


def test_dataset_card_figures_match_the_files():
    """The card quotes sizes, lengths and fact counts; they must follow the data."""
    import statistics

    from reportbench.metrics.facts import extract_facts

    card = (packaged_data_dir() / "README.md").read_text()
    total_facts = 0
    for domain in DOMAINS:
        cases = read_cases(packaged_data_dir() / f"{domain}.jsonl", domain)
        dev = sum(c["split"] == "dev" for c in cases)
        assert f"| `{domain}.jsonl` |" in card and f"| {len(cases)} | {dev} | {len(cases) - dev} |" in card
        chars = [len(c["event_description"]) for c in cases]
        words = [len(c["event_description"].split()) for c in cases]
        row = (f"| {domain} | {min(chars)} / {int(statistics.median(chars))} / {max(chars)} | "
               f"{min(words)} / {int(statistics.median(words))} / {max(words)} |")
        assert row in card
        facts = [f.kind for c in cases for f in extract_facts(c)]
        total_facts += len(facts)
        counts = " | ".join(str(facts.count(k)) for k in ("id", "date", "time", "quantity", "number", "name"))
        assert f"| {domain} | {counts} |" in card
    assert f"{total_facts:,} key facts" in card
