"""Prompt methods A-D: key fields of one case in, one prompt string out.

A: plain instruction.  B: A plus writing guidelines.
C: B plus one worked pharma example.  D: B plus one worked traffic example.
The worked examples are written for the prompts and are not evaluation cases.
"""

from __future__ import annotations

from reportbench.answer import example_answer, placeholder_answer
from reportbench.metrics.schema import KEY_FIELDS

METHODS = ("A", "B", "C", "D")

FIELD_LABELS = {
    "what": "What",
    "when": "When",
    "where": "Where",
    "who": "Who",
    "how": "How",
    "why": "Why",
    "contingency_actions": "Contingency actions",
}

DOMAIN_BRIEFS = {
    "pharma": "You are a quality assurance specialist at a pharmaceutical manufacturing site. "
    "Write a deviation report for the quality management system",
    "traffic": "You are a police officer. Write a road traffic accident report for the police records",
}

OUTPUT_INSTRUCTION = f"Answer with one JSON object and nothing else: {placeholder_answer()}."

GUIDELINES = """Guidelines:
- Be accurate: use only the key information given.
- Stay consistent with the key information: keep the same dates, times, places, people, numbers and reference IDs.
- Do not invent anything: no new names, numbers, causes or actions.
- Cover what happened, when, where, who was involved, how, why, and the contingency actions.
- Write one factual paragraph in the past tense, with no lists or headings, and a short, specific title."""

WORKED_EXAMPLES = {
    "pharma": {
        "fields": {
            "what": "metal sieve screen found torn after milling of granules",
            "when": "2023-09-12 10:15 (found at end-of-run inspection)",
            "where": "Milling room M-2, oral solids building, Northfield site, Leeds, United Kingdom",
            "who": "Priya Nair (production operator) - found the tear; Marc Dubois (QA specialist) - assessed the batch",
            "how": "the 1.0 mm screen tore while batch G23-1180 was milled, so metal fragments could have entered the granules",
            "why": "screen used beyond its replacement interval because its usage log was not updated",
            "contingency_actions": "batch G23-1180 put on hold, granules passed through a metal detector, "
            "screen replaced, usage log reviewed, deviation DEV-2023-0458 opened",
        },
        "title": "Torn sieve screen during milling of batch G23-1180",
        "report": "On 2023-09-12 at 10:15, during the end-of-run inspection in Milling room M-2 of the oral solids "
        "building at the Northfield site in Leeds, United Kingdom, production operator Priya Nair found that the "
        "1.0 mm sieve screen had torn while batch G23-1180 was milled, so metal fragments could have entered the "
        "granules. The screen had been used beyond its replacement interval because its usage log was not updated. "
        "QA specialist Marc Dubois put the batch on hold and had the granules passed through a metal detector; the "
        "screen was replaced, the usage log was reviewed and deviation DEV-2023-0458 was opened.",
    },
    "traffic": {
        "fields": {
            "what": "rear-end collision between a delivery van and a car waiting at traffic lights",
            "when": "2023-02-07 08:20",
            "where": "Harbour Road at the junction with Mill Street, Portsmouth, United Kingdom",
            "who": "Daniel Osei (van driver); Hannah Clarke (car driver, neck pain); PC Ruth Adeyemi (attending officer)",
            "how": "the van did not stop at the red light and hit the rear of the waiting car at low speed",
            "why": "the van driver was reading a delivery app on his phone",
            "contingency_actions": "ambulance crew checked Hannah Clarke at the scene, van driver reported for using "
            "a phone while driving, both vehicles moved to the roadside, incident ref. PT-2023-0815",
        },
        "title": "Rear-end collision at Harbour Road traffic lights",
        "report": "On 2023-02-07 at 08:20, on Harbour Road at the junction with Mill Street in Portsmouth, United "
        "Kingdom, a delivery van driven by Daniel Osei did not stop at a red light and hit the rear of a car waiting "
        "at the lights at low speed. The car driver, Hannah Clarke, had neck pain and was checked at the scene by an "
        "ambulance crew. The van driver had been reading a delivery app on his phone. PC Ruth Adeyemi attended, "
        "reported Daniel Osei for using a phone while driving and had both vehicles moved to the roadside; the "
        "incident was logged as ref. PT-2023-0815.",
    },
}

EXAMPLE_DOMAIN_BY_METHOD = {"C": "pharma", "D": "traffic"}


def format_key_fields(fields: dict) -> str:
    return "\n".join(f"- {FIELD_LABELS[name]}: {fields[name].strip()}" for name in KEY_FIELDS)


def _worked_example(domain: str) -> str:
    example = WORKED_EXAMPLES[domain]
    answer = example_answer(example["title"], example["report"])
    return f"Example of key information and the expected answer:\n{format_key_fields(example['fields'])}\nAnswer: {answer}"


def build_prompt(case: dict, method: str, domain: str) -> str:
    """The full user prompt for one case; ends with 'Answer:' for models used without a chat template."""
    if method not in METHODS:
        raise ValueError(f"unknown prompt method {method!r}; expected one of {', '.join(METHODS)}")
    if domain not in DOMAIN_BRIEFS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {', '.join(DOMAIN_BRIEFS)}")
    parts = [f"{DOMAIN_BRIEFS[domain]} from the key information below. {OUTPUT_INSTRUCTION}"]
    if method != "A":
        parts.append(GUIDELINES)
    if method in EXAMPLE_DOMAIN_BY_METHOD:
        parts.append(_worked_example(EXAMPLE_DOMAIN_BY_METHOD[method]))
        parts.append("Now write the report for this case.")
    parts.append(f"Key information:\n{format_key_fields(case)}\nAnswer:")
    return "\n\n".join(parts)
