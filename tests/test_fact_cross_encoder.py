"""The embedded fact-aware cross-encoder: its input marking, its shipped weights, its training."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections import Counter

import pytest

from reportbench.audit import packaged_rewrites
from reportbench.cases import read_cases
from reportbench.cli import main
from reportbench.damage import CaseContext, control, damage
from reportbench.metrics import DEFAULT_OPTIONS, ScoringInput, score_samples
from reportbench.metrics.base import MetricUnavailable
from reportbench.metrics.encoders import resolve_model
from reportbench.metrics.fact_cross_encoder import (
    ALIAS,
    FREE_TEXT_DIR,
    INPUT_FILE,
    SHIPPED_DIR,
    TRAINING_FILE,
    WEIGHTS_FILE,
    Mixture,
    mark_pair,
    marked_input,
    mixture_of,
    training_info,
)
from reportbench.paths import packaged_data_dir

CASES = read_cases(packaged_data_dir() / "pharma.jsonl") + read_cases(packaged_data_dir() / "traffic.jsonl")


def _marks(text: str) -> list[str]:
    return [w for w in text.split() if "{" in w]


def test_identical_and_reformatted_facts_are_not_marked():
    assert mark_pair("On 2025-02-11 at 09:25 Dr. Ana Silva moved 1,260 cartons.",
                     "At 9:25 am on 11 February 2025, 1260 cartons were moved by Ana Silva.") == (
        "On 2025-02-11 at 09:25 Dr. Ana Silva moved 1,260 cartons.",
        "At 9:25 am on 11 February 2025, 1260 cartons were moved by Ana Silva.")
    assert mark_pair("3 repeat fills", "three repeat fills") == ("3 repeat fills", "three repeat fills")


def test_a_changed_fact_is_marked_on_both_sides():
    reference, prediction = mark_pair("Batch B25-0412 was held by Niamh Kavanagh in Cork.",
                                      "Batch B25-0419 was held by Niamh Brennan in Cork.")
    assert _marks(reference) == ["{B25-0412}", "{Kavanagh}"] and _marks(prediction) == ["{B25-0419}", "{Brennan}"]


def _word_marks(text: str) -> list[str]:
    import re

    return re.findall(r"\[([^\]]+)\]", text)


def test_v4_marks_the_content_words_one_side_lacks_and_nothing_in_identical_or_reformatted_texts():
    reference = "On 2025-02-11 at 09:25 the batch was quarantined because the seal had cracked; 12% of vials were lost."
    assert mark_pair(reference, reference, "fact-marked-v4") == (reference, reference)
    reformatted = "At 9:25 am on 11 February 2025 the batch was quarantined because the seal had cracked; 12 per cent of vials were lost."
    assert mark_pair(reference, reformatted, "fact-marked-v4") == (reference, reformatted)
    omitted, _ = mark_pair(reference, "On 2025-02-11 at 09:25 the batch was quarantined; 12% of vials were lost.", "fact-marked-v4")
    assert _word_marks(omitted) == ["because", "seal", "cracked"]
    _, invented = mark_pair(reference, reference + " Maintenance replaced the pump.", "fact-marked-v4")
    assert _word_marks(invented) == ["Maintenance", "replaced", "pump"] and "{" not in invented
    # polarity words and facts keep their { } marks; a stem the other side uses is no new word
    reversed_, _ = mark_pair(reference, reference.replace("quarantined", "released"), "fact-marked-v4")
    assert "{quarantined}" in reversed_ and not _word_marks(reversed_)
    assert mark_pair("The seals crack.", "The seal cracked.", "fact-marked-v4") == ("The seals crack.", "The seal cracked.")
    # v3 (the format of models trained before v4) is unchanged: no word marks
    assert not _word_marks(mark_pair(reference, reference + " Maintenance replaced the pump.")[1])
    with pytest.raises(ValueError, match="fact-marked-v9"):
        mark_pair(reference, reference, "fact-marked-v9")


def test_v5_takes_units_written_out_for_the_same_words_and_finds_swaps_of_titled_names():
    reference = "The van was doing 50 km/h with 40 kg of tiles on board."
    spelled = "The van was doing 50 kilometres per hour with 40 kilograms of tiles on board."
    assert _word_marks(mark_pair(reference, spelled, "fact-marked-v4")[1]) == ["kilometres", "hour", "kilograms"]
    assert mark_pair(reference, spelled, "fact-marked-v5") == (reference, spelled)
    _, invented = mark_pair(reference, spelled + " The driver fled.", "fact-marked-v5")
    assert _word_marks(invented) == ["driver", "fled"]
    # The names carry a title, an abbreviation, a possessive or a full stop in one text and not at the
    # same place in the other: v4 took "PC Morag Donnelly" for a name of its own and saw no swap.
    reference = ("Van driver Stuart McAllister was unloading when the cyclist fell. PC Morag Donnelly of Police Scotland "
                 "attended. Sgto. Raúl Prieto's report names hunter Tuomas Kivelä. Constable Heli Mäkinen took photos.")
    swapped = ("Van driver Morag Donnelly was unloading when the cyclist fell. PC Stuart McAllister of Police Scotland "
               "attended. Sgto. Raúl Prieto's report names hunter Heli Mäkinen. Constable Tuomas Kivelä took photos.")
    assert mark_pair(reference, swapped, "fact-marked-v4") == (reference, swapped)
    marked_reference, marked_swapped = mark_pair(reference, swapped, "fact-marked-v5")
    # the last pair is seen once: after "Kivelä." the word before the next name is a swapped name itself
    assert _braced(marked_reference) == ["Stuart McAllister", "Morag Donnelly", "Tuomas Kivelä"]
    assert _braced(marked_swapped) == ["Morag Donnelly", "Stuart McAllister", "Heli Mäkinen"]
    assert mark_pair(reference, reference, "fact-marked-v5") == (reference, reference)
    # two values trade places: both texts hold both, so only their places tell
    reference = "The mixer ran at 900 rpm while the HMI showed 3,000 rpm, and 2 g of the 5 g sample remained."
    swapped = "The mixer ran at 3,000 rpm while the HMI showed 900 rpm, and 5 g of the 2 g sample remained."
    assert mark_pair(reference, swapped, "fact-marked-v4") == (reference, swapped)
    marked_reference, marked_swapped = mark_pair(reference, swapped, "fact-marked-v5")
    assert _braced(marked_reference) == ["900 rpm", "2 g", "5 g"] and _braced(marked_swapped) == ["3,000 rpm", "5 g", "2 g"]
    # a value's place is the two words on each side; after "showed 3,000 rpm" they hold a swapped value
    # too ("and 2" here, "and 5" there), so that one place is not compared


def _braced(text: str) -> list[str]:
    import re

    return re.findall(r"\{([^}]+)\}", text)


def test_a_model_folder_declares_its_input_format_and_an_unknown_one_is_a_clear_error(tmp_path):
    assert marked_input(str(tmp_path)) is None  # a plain cross-encoder reads plain pairs
    (tmp_path / INPUT_FILE).write_text(json.dumps({"input": "fact-marked-v4"}))
    assert marked_input(str(tmp_path)) == "fact-marked-v4"
    (tmp_path / INPUT_FILE).write_text(json.dumps({"input": "fact-marked-v9"}))
    with pytest.raises(MetricUnavailable, match="fact-marked-v9"):
        marked_input(str(tmp_path))


def test_faithful_rewrites_and_controls_keep_their_values_unmarked_and_fact_damage_is_marked():
    rewrites = packaged_rewrites()
    # A rewrite keeps every value, so a marked value (a token with a digit) on a rewrite is rare; its
    # marks are polarity words it words differently, which the model has to judge.
    with_marked_values = sum(1 for c in CASES if any(any(ch.isdigit() for ch in w) for side in mark_pair(
        c["event_description"], rewrites[c["id"]][0]) for w in _marks(side)))
    assert with_marked_values <= 0.05 * len(CASES)
    swaps = marked_swaps = 0
    for index, case in enumerate(CASES):
        reference = case["event_description"]
        for name in ("date_time_format", "number_format"):
            edit = control(reference, name, random.Random(index))
            if edit is not None:
                assert mark_pair(reference, edit.text) == (reference, edit.text), (case["id"], name)
                # v5 also leaves the words alone that write a unit out (v4 marked "kilometres")
                assert mark_pair(reference, edit.text, "fact-marked-v5") == (reference, edit.text), (case["id"], name)
        # v5's swap check raises no false alarm on a faithful rewrite: its { } marks are v4's
        for rewrite in rewrites[case["id"]]:
            assert ([_braced(side) for side in mark_pair(reference, rewrite, "fact-marked-v5")]
                    == [_braced(side) for side in mark_pair(reference, rewrite, "fact-marked-v4")]), case["id"]
        edit = damage(reference, "swap", CaseContext(case, CASES), random.Random(index))
        if edit is not None:
            swaps += 1
            marked_swaps += mark_pair(reference, edit.text, "fact-marked-v5") != (reference, edit.text)
        # Reordered sentences keep every value unmarked; a name that now follows the same word as another
        # name did can be marked as a possible swap (a known false alarm, also seen in training).
        edit = control(reference, "sentence_order", random.Random(index))
        if edit is not None:
            assert not [w for side in mark_pair(reference, edit.text) for w in _marks(side) if any(ch.isdigit() for ch in w)]
        context = CaseContext(case, CASES)
        for kind in ("date", "id", "name"):
            edit = damage(reference, kind, context, random.Random(index))
            if edit is not None:
                assert any(_marks(side) for side in mark_pair(reference, edit.text)), (case["id"], kind, edit.change)
    # a swap of two names that follow the same word and precede the same word ("driver X was") stays unseen
    assert swaps >= 150 and marked_swaps >= 0.98 * swaps, (marked_swaps, swaps)


def test_the_shipped_model_is_small_trained_on_dev_only_and_current():
    from reportbench.cross_encoder_training import FREE_TEXT_EXPERT, _digest, training_cases

    expert = SHIPPED_DIR / FREE_TEXT_DIR
    assert sum((folder / WEIGHTS_FILE).stat().st_size for folder in (SHIPPED_DIR, expert)) <= 20 * 1024 * 1024
    cases, rewrites = training_cases()
    for folder in (SHIPPED_DIR, expert):
        info = training_info(folder)
        weights = folder / WEIGHTS_FILE
        assert info["data"]["split"] == "dev" and info["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
        assert len(info["held_out_classes"]) >= 2 and not set(info["held_out_classes"]) & set(info["trained_classes"])
        assert info["data"]["cases_sha256"] == _digest([c["event_description"] for c in cases])
        assert info["data"]["rewrites_sha256"] == _digest([r for c in cases for r in rewrites[c["id"]]])
    # the expert is its recipe's, trained from the shipped model, and stores only what it trained
    info = training_info(expert)
    assert info["on_top_of"] == ".." and info["mixture"] == dataclasses.asdict(Mixture())
    assert info["continued_from"]["weights_sha256"] == training_info()["weights_sha256"]
    recipe = json.loads(json.dumps(dataclasses.asdict(FREE_TEXT_EXPERT)))
    assert {k: v for k, v in info["settings"].items() if k != "seed"} == {k: v for k, v in recipe.items() if k not in ("seed", "init_from")}
    assert all(name.startswith(("bert.encoder.layer.5.", "bert.pooler.", "classifier.")) for name in info["trained_parameters"])


def test_the_default_cross_encoder_mixes_its_two_models_by_closeness_to_the_reference():
    """A near-copy of the reference is scored by the model trained on near-copies, a freely written
    report by the free-text expert (its logit shifted down), as Mixture says."""
    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder

    path = resolve_model(ALIAS)
    expert_path, mixture = mixture_of(path)
    assert mixture == Mixture() and (expert_path / "config.json").is_file()
    case = next(c for c in CASES if c["split"] == "test")
    reference, rewrite = case["event_description"], packaged_rewrites()[case["id"]][0]
    assert mixture.near_copy_weight(reference, reference) > 0.999 and mixture.near_copy_weight(reference, rewrite) < 1e-6

    models = {folder: CrossEncoder(str(folder)) for folder in (path, expert_path)}

    def probability(folder, text, shift=0.0):
        logit = models[folder].predict([mark_pair(reference, text, training_info()["input"])], activation_fn=torch.nn.Identity())[0]
        return 1 / (1 + np.exp(-(float(logit) - shift)))

    scores = score_samples([ScoringInput.from_case(case, t) for t in (reference, rewrite)], ["cross_encoder"],
                           DEFAULT_OPTIONS).values["cross_encoder"]
    assert scores[0] == pytest.approx(probability(path, reference), abs=1e-4)
    assert scores[1] == pytest.approx(probability(expert_path, rewrite, mixture.free_text_shift), abs=1e-4)
    assert probability(path, rewrite) != pytest.approx(scores[1], abs=1e-3)  # the expert, not the near-copy model


def test_training_data_never_touches_the_test_split():
    from reportbench.cross_encoder_training import TrainingSettings, epoch_examples, training_cases

    cases, rewrites = training_cases()
    examples = epoch_examples(cases, rewrites, TrainingSettings(), 0)
    test_texts = {c["event_description"] for c in CASES if c["split"] == "test"}
    test_texts |= {r for c in CASES if c["split"] == "test" for r in packaged_rewrites()[c["id"]]}
    assert {e.reference for e in examples} <= {c["event_description"] for c in cases}
    assert not ({e.clean for e in examples} | {e.damaged for e in examples}) & test_texts
    assert not {e.kind for e in examples} & set(TrainingSettings().held_out_classes)
    with pytest.raises(ValueError, match="dev-split cases only"):
        epoch_examples([c for c in CASES if c["split"] == "test"][:2], rewrites, TrainingSettings(), 0)


def test_the_default_cross_encoder_works_offline_and_tells_faithful_from_damaged():
    assert marked_input(resolve_model(ALIAS)) == training_info()["input"]
    case = next(c for c in CASES if c["split"] == "test")
    other = next(c for c in CASES if c["split"] == "test" and c["id"] != case["id"] and c["id"][:5] == case["id"][:5])
    wrong_date = damage(case["event_description"], "date", CaseContext(case, CASES), random.Random(0)).text
    texts = [case["event_description"], packaged_rewrites()[case["id"]][0], wrong_date, other["event_description"]]
    scores = score_samples([ScoringInput.from_case(case, t) for t in texts], ["cross_encoder"], DEFAULT_OPTIONS).values["cross_encoder"]
    assert all(0 <= s <= 1 for s in scores)
    assert scores[0] > 0.5 and scores[1] > scores[2] and scores[1] > scores[3], scores


def test_reportbench_score_gives_cross_encoder_without_flags(tmp_path):
    case = CASES[0]
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prediction": packaged_rewrites()[case["id"]][0], "reference": case["event_description"]}) + "\n")
    assert main(["score", "--input", str(rows), "--output", str(tmp_path / "out.jsonl"), "--metrics", "cross_encoder"]) == 0
    value = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])["cross_encoder"]
    assert 0 <= value <= 1


def test_metrics_describe_shows_the_training(capsys):
    assert main(["metrics", "describe", "--metrics", "cross_encoder"]) == 0
    settings = json.loads(capsys.readouterr().out)["metrics"][0]["settings"]
    assert settings["mode"] == "fact" and settings["model"] == ALIAS
    assert settings["training"]["held_out_classes"] == training_info()["held_out_classes"]
    expert = settings["free_text_expert"]
    assert expert["mixture"] == dataclasses.asdict(Mixture()) and expert["training"]["on_top_of"] == ".."
    assert expert["training"]["settings"]["frozen_layers"] == 5 and "ROUGE-2" in expert["definition"]


@pytest.mark.slow
def test_few_step_training_is_deterministic_and_loads_as_a_cross_encoder(tmp_path):
    """CI's run of the training code path: the whole recipe (every stage, 2 steps each) twice gives
    the same bytes, the last stage starts from the one before and records it, and the folder scores."""
    from reportbench.cross_encoder_training import RECIPE, stage_folder, train_recipe

    assert len(RECIPE) == 3 and RECIPE[-1].input_format == training_info()["input"]
    for name in ("a", "b"):
        train_recipe(tmp_path / name, RECIPE, progress=False, max_steps=2, batch_size=1)
    assert (tmp_path / "a" / WEIGHTS_FILE).read_bytes() == (tmp_path / "b" / WEIGHTS_FILE).read_bytes()
    before_last = stage_folder(tmp_path / "a", len(RECIPE) - 1)
    assert before_last.name == f"a.stage{len(RECIPE) - 1}"
    assert (before_last / WEIGHTS_FILE).read_bytes() != (tmp_path / "a" / WEIGHTS_FILE).read_bytes()
    info = json.loads((tmp_path / "a" / TRAINING_FILE).read_text())
    assert info["steps"] == 2 and info["settings"]["max_steps"] == 2 and "init_from" not in info["settings"]
    assert info["input"] == RECIPE[-1].input_format and info["continued_from"]["input"] == RECIPE[-2].input_format
    assert info["settings"]["class_weights"] and info["continued_from"]["steps"] == 2
    assert info["continued_from"]["weights_sha256"] == hashlib.sha256((before_last / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert info["continued_from"]["continued_from"]["continued_from"] is None  # the whole recipe is on file
    # only the last stage, from the first run's stage before it: the same weights again
    train_recipe(tmp_path / "c", RECIPE, progress=False, max_steps=2, batch_size=1, first_stages=before_last)
    assert (tmp_path / "c" / WEIGHTS_FILE).read_bytes() == (tmp_path / "a" / WEIGHTS_FILE).read_bytes()
    case = CASES[0]
    options = DEFAULT_OPTIONS.__class__(cross_encoder=str(tmp_path / "a"))
    value = score_samples([ScoringInput.from_case(case, case["event_description"])], ["cross_encoder"], options).values["cross_encoder"]
    assert 0 <= value[0] <= 1
    # the free-text expert: twice the same bytes, only its own weights stored, loaded over the model below it
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    from reportbench.cross_encoder_training import train_free_text_expert
    from reportbench.metrics.fact_cross_encoder import model_folder

    train_free_text_expert(tmp_path / "a", progress=False, max_steps=1, batch_size=1)
    # the command line, only the expert, from a finished model copied to --out: the same bytes again
    assert main(["metrics", "train-cross-encoder", "--out", str(tmp_path / "d"), "--first-stages", str(tmp_path / "a"),
                 "--free-text-expert", "only", "--max-steps", "1", "--train-batch-size", "1"]) == 0
    expert = tmp_path / "a" / FREE_TEXT_DIR
    assert (tmp_path / "d" / WEIGHTS_FILE).read_bytes() == (tmp_path / "a" / WEIGHTS_FILE).read_bytes()
    assert (expert / WEIGHTS_FILE).read_bytes() == (tmp_path / "d" / FREE_TEXT_DIR / WEIGHTS_FILE).read_bytes()
    info = json.loads((expert / TRAINING_FILE).read_text())
    assert info["on_top_of"] == ".." and info["mixture"] == dataclasses.asdict(Mixture())
    own, below = load_file(str(expert / WEIGHTS_FILE)), load_file(str(tmp_path / "a" / WEIGHTS_FILE))
    assert set(own) == {n for n in below if n.startswith(("bert.encoder.layer.5.", "bert.pooler.", "classifier."))}
    assembled = model_folder(tmp_path / "a")
    expert_model = AutoModelForSequenceClassification.from_pretrained(assembled / FREE_TEXT_DIR).state_dict()
    for name in ("bert.encoder.layer.4.output.dense.weight", "bert.encoder.layer.5.output.dense.weight", "classifier.weight"):
        source = own if name in own else below
        assert torch.equal(expert_model[name], source[name].float()), name
    assert not torch.equal(own["classifier.weight"], below["classifier.weight"])
    mixed = score_samples([ScoringInput.from_case(case, t) for t in (case["event_description"], packaged_rewrites()[case["id"]][0])],
                          ["cross_encoder"], options).values["cross_encoder"]
    assert all(0 <= v <= 1 for v in mixed) and mixed[0] == pytest.approx(value[0], abs=1e-4)  # the reference: the model below alone
    # retraining the model drops the expert trained on the one it replaces
    assert main(["metrics", "train-cross-encoder", "--out", str(tmp_path / "d"), "--first-stages", str(before_last),
                 "--free-text-expert", "skip", "--max-steps", "1", "--train-batch-size", "1"]) == 0
    assert not (tmp_path / "d" / FREE_TEXT_DIR).exists()


def test_class_weights_shift_the_drawn_damage_and_are_checked():
    from collections import Counter

    from reportbench.cross_encoder_training import RECIPE, TrainingSettings, epoch_examples, training_cases

    cases, rewrites = training_cases()
    uniform = Counter(e.kind for e in epoch_examples(cases, rewrites, RECIPE[0], 0))
    weighted = Counter(e.kind for e in epoch_examples(cases, rewrites, RECIPE[1], 0))
    assert sum(uniform.values()) == sum(weighted.values())
    for kind in ("negation", "invented", "omission"):
        assert weighted[kind] > 1.4 * uniform[kind], (kind, uniform, weighted)
    for kind in ("date", "id"):
        assert weighted[kind] < 0.7 * uniform[kind], (kind, uniform, weighted)
    with pytest.raises(ValueError, match="unknown damage classes"):
        TrainingSettings(class_weights=(("negations", 2.0),))
    with pytest.raises(ValueError, match="> 0"):
        TrainingSettings(class_weights=(("negation", 0.0),))


def test_class_weights_given_by_name_change_only_the_named_classes():
    from reportbench.cross_encoder_training import RECIPE, WRITTEN_STAGE, with_class_weights

    changed = dict(with_class_weights(WRITTEN_STAGE, " omission=5, swap=1 ").class_weights)
    assert changed == {**dict(WRITTEN_STAGE.class_weights), "omission": 5.0, "swap": 1.0}
    assert dict(with_class_weights(RECIPE[0], "negation=2").class_weights) == {"negation": 2.0}
    assert with_class_weights(WRITTEN_STAGE, "") == WRITTEN_STAGE


def test_reference_share_sets_how_many_damaged_copies_are_near_copies_of_the_reference():
    from dataclasses import replace

    from reportbench.cross_encoder_training import WRITTEN_STAGE, TrainingSettings, epoch_examples, training_cases, written_texts

    cases, rewrites = training_cases()
    written = written_texts(cases)
    cases = cases[:12]

    def near_copies(settings):
        drawn = [e for e in epoch_examples(cases, rewrites, settings, 0, written) if e.kind in dict(settings.class_weights)]
        return sum(e.of_reference for e in drawn), len(drawn)

    of_reference, drawn = near_copies(WRITTEN_STAGE)  # 1 reference among 5 texts per case: about a fifth
    assert drawn == 12 * WRITTEN_STAGE.pairs_per_case and of_reference < 0.35 * drawn
    for share in (0.5, 1.0, 0.0):
        assert near_copies(replace(WRITTEN_STAGE, reference_share=share)) == (round(drawn * share), drawn)
    with pytest.raises(ValueError, match="reference_share: 1.5 is not between 0 and 1"):
        TrainingSettings(reference_share=1.5)


def test_the_written_reports_are_dev_only_faithful_ones_keep_every_fact_and_flawed_ones_are_typed():
    from reportbench.cross_encoder_training import WRITTEN_ERRORS, training_cases, written_texts
    from reportbench.metrics.facts import invented_facts, missing_facts

    cases, _ = training_cases()
    written = written_texts(cases)
    by_id = {c["id"]: c for c in cases}
    assert set(written) == set(by_id)  # every dev case, no test case
    styles = Counter(w.style for texts in written.values() for w in texts)
    assert styles == {"fields": len(cases), "compact": len(cases), "restructured": len(cases), "flawed": len(cases)}
    references = {c["event_description"] for c in CASES} | {r for texts in packaged_rewrites().values() for r in texts}
    for case_id, texts in written.items():
        for text in texts:
            assert text.text not in references
            if text.faithful:
                assert not missing_facts(by_id[case_id], text.text) and not invented_facts(by_id[case_id], text.text), (case_id, text.style)
    errors = Counter(kind for texts in written.values() for w in texts for kind, _, _ in w.errors)
    assert set(errors) == set(WRITTEN_ERRORS) and min(errors.values()) >= 0.1 * len(cases), errors


@pytest.mark.parametrize("row, message", [
    ({"id": "pharma-999"}, "field 'id': 'pharma-999' is not a dev-split case"),
    ({"split": "test"}, "field 'split': expected 'dev'"),
    ({"style": "poem"}, "field 'style': expected one of"),
    ({"text": " "}, "field 'text': missing or not a non-empty string"),
    ({"errors": [{"type": "swap", "quote": "x"}]}, "field 'errors': a flawed text has 1-2 errors, a faithful one none"),
    ({"style": "flawed", "errors": []}, "field 'errors'"),
    ({"style": "flawed", "errors": [{"type": "typo", "quote": "A"}]}, "field 'errors[0].type'"),
    ({"style": "flawed", "errors": [{"type": "swap", "quote": "not in the text"}]}, "field 'errors[0].quote': not found verbatim"),
])
def test_a_bad_written_row_names_file_line_and_field(tmp_path, row, message):
    from reportbench.audit import AuditInputError
    from reportbench.cross_encoder_training import read_written

    case_id = next(c["id"] for c in CASES if c["split"] == "dev")
    good = {"id": case_id, "split": "dev", "style": "fields", "text": "A report.", "errors": []}
    path = tmp_path / "written.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(good | row) + "\n")
    with pytest.raises(AuditInputError) as err:
        read_written(path, [case_id])
    assert str(err.value).startswith(f"{path}:3: {message}")


def test_the_written_stage_pairs_flawed_reports_with_faithful_ones_and_keeps_held_out_errors_out():
    from reportbench.cross_encoder_training import WRITTEN_STAGE, epoch_examples, touches_held_out, training_cases, written_texts

    cases, rewrites = training_cases()
    written = written_texts(cases)
    examples = epoch_examples(cases, rewrites, WRITTEN_STAGE, 0, written)
    by_id = {c["id"]: c for c in cases}
    flawed = {w.text: w for texts in written.values() for w in texts if not w.faithful}
    kept = [w for w in flawed.values() if not touches_held_out(w, by_id[w.case_id], WRITTEN_STAGE.held_out_classes)]
    pairs = [e for e in examples if e.kind.startswith("written:")]
    assert len(pairs) == 2 * len(kept) and 0 < len(flawed) - len(kept) <= 10  # each against a written faithful report and the reference
    assert {e.damaged for e in pairs} == {w.text for w in kept}
    faithful = {w.text for texts in written.values() for w in texts if w.faithful}
    assert {e.clean for e in pairs} <= faithful | {c["event_description"] for c in cases}
    # the written faithful reports also join the clean candidates that damaged copies are made of
    assert any(e.clean in faithful for e in examples if not e.kind.startswith("written:"))
    with pytest.raises(ValueError, match="written reports were not given"):
        epoch_examples(cases, rewrites, WRITTEN_STAGE, 0)


def test_the_written_stage_can_read_only_some_styles():
    from dataclasses import replace

    from reportbench.cross_encoder_training import WRITTEN_STAGE, TrainingSettings, epoch_examples, training_cases, written_texts

    cases, rewrites = training_cases()
    every = written_texts(cases)
    chosen = written_texts(cases, ("restructured", "flawed"))
    assert {w.style for texts in chosen.values() for w in texts} == {"restructured", "flawed"}
    assert sum(map(len, chosen.values())) == sum(w.style in ("restructured", "flawed") for texts in every.values() for w in texts)
    stage = replace(WRITTEN_STAGE, written_styles=("restructured",))
    examples = epoch_examples(cases, rewrites, stage, 0, written_texts(cases, stage.written_styles))
    restructured = {w.text for texts in every.values() for w in texts if w.style == "restructured"}
    others = {w.text for texts in every.values() for w in texts if w.style != "restructured"}
    assert not any(e.kind.startswith("written:") for e in examples)  # no flawed report read
    assert {e.clean for e in examples} & restructured and not {e.clean for e in examples} & others
    with pytest.raises(ValueError, match="unknown styles"):
        TrainingSettings(written_styles=("poem",))


def test_a_written_wrong_time_or_place_is_kept_out_while_those_classes_are_held_out():
    from reportbench.cross_encoder_training import WrittenText, touches_held_out

    case = {"where": "Carrigtwohill site, Building 2, Cork, Ireland"}
    time = WrittenText("x", "flawed", "at 10:25 it", (("wrong_fact", "at 10:25", "09:25"),))
    place = WrittenText("x", "flawed", "in Galway", (("wrong_fact", "in Galway", "Cork"),))
    swap = WrittenText("x", "flawed", "Ann found", (("swap", "Ann found", "Bob found it"),))
    assert touches_held_out(time, case, ("time", "place")) and touches_held_out(place, case, ("time", "place"))
    assert not touches_held_out(swap, case, ("time", "place")) and not touches_held_out(time, case, ())


@pytest.mark.parametrize("extra", [[], ["--with-written"]])
def test_train_cross_encoder_reports_a_missing_first_stage(tmp_path, capsys, extra):
    assert main(["metrics", "train-cross-encoder", "--out", str(tmp_path / "m"), "--first-stages", str(tmp_path / "nope"), *extra]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--written-styles", "fields"], "--written-styles needs --with-written"),
    (["--with-written", "--written-styles", "fields,poem"], "unknown styles ['poem']"),
    (["--class-weights", "omission"], "'omission' is not NAME=WEIGHT"),
    (["--class-weights", "omission=often"], "'omission=often' is not NAME=WEIGHT"),
    (["--with-written", "--class-weights", "omissions=5"], "unknown damage classes ['omissions']"),
    (["--class-weights", "negation=0"], "every weight must be > 0"),
    (["--with-written", "--reference-share", "2"], "reference_share: 2.0 is not between 0 and 1"),
    (["--free-text-expert", "only"], "--free-text-expert only needs --first-stages"),
    (["--free-text-expert", "only", "--first-stages", "metrics/fact_cross_encoder", "--reference-share", "0.5", "--with-written"],
     "--with-written, --reference-share change the recipe's stages"),
    (["--free-text-expert", "only", "--first-stages", "/"], "--first-stages /: no weights.safetensors"),
])
def test_train_cross_encoder_checks_the_written_styles_and_class_weights(tmp_path, capsys, extra, message):
    assert main(["metrics", "train-cross-encoder", "--out", str(tmp_path / "m"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_the_input_marking_is_the_one_the_shipped_model_was_trained_on():
    from reportbench.cross_encoder_training import marking_digest

    info = training_info()
    assert marking_digest(info["input"]) == info["marking_sha256"], \
        "mark_pair changed since the shipped model was trained: retrain it (make train-cross-encoder)"
