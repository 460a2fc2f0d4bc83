"""Cross-cell batching (batching.py) on its own: request seeds, chunk bounds, collect and replay.

The model here is a plain object that answers generate_until by echoing each request's seed and
context, so the tests see exactly what an engine would receive; the grid tests run real models."""

from dataclasses import dataclass

import pytest
from lm_eval.api.instance import Instance

from reportbench import batching
from reportbench.decoding import request_seed


def instance(task, case, context, repeats=1, gen_kwargs=None):
    return Instance("generate_until", {"id": case}, (context, dict(gen_kwargs or {"do_sample": True})), 0, (task, 0, repeats))


@dataclass(frozen=True)
class FakeCell:
    cell_id: str
    seed: int
    cases: tuple


class EchoModel:
    calls: list

    def __init__(self):
        self.calls = []

    def generate_until(self, requests, disable_tqdm=False):
        self.calls.append(len(requests))
        return [f"{r.args[0]}|{r.args[1].get('seed')}" for r in requests]


def evaluate_on(lm):
    """What simple_evaluate does with a model, reduced to what batching relies on: build requests, call generate_until."""
    def evaluate(cell):
        requests = [instance("t", case, f"{cell.cell_id}:{case}") for case in cell.cases]
        return {"outputs": lm.generate_until(requests)}
    return evaluate


def test_seeded_requests_count_repeats_per_task_and_case_and_keep_explicit_seeds():
    requests = [instance("a", "c1", "x"), instance("a", "c1", "x"), instance("b", "c1", "y"),
                instance("a", "c2", "z", gen_kwargs={"seed": 7})]
    seeds = [r.args[1]["seed"] for r in batching.seeded(requests, base=3)]
    assert seeds == [request_seed(3, "c1", 0), request_seed(3, "c1", 1), request_seed(3, "c1", 0), 7]
    assert "seed" not in requests[0].args[1]  # the lm-eval instances themselves are untouched


def test_chunks_group_by_key_and_respect_the_request_bound():
    lm = EchoModel()
    cells = [FakeCell(f"c{i}", 0, ("a", "b", "c")) for i in range(5)]
    chunks = list(batching.chunks(cells, evaluate_on(lm), lm, key=lambda c: int(c.cell_id[1:]) % 2, max_requests=6))
    assert [[p.cell.cell_id for p in chunk] for chunk in chunks] == [["c0", "c2"], ["c4"], ["c1", "c3"]]
    assert lm.calls == []  # collecting generates nothing
    big = list(batching.chunks([FakeCell("big", 0, tuple("abcdefgh"))], evaluate_on(lm), lm, key=lambda c: 0, max_requests=2))
    assert [len(chunk[0].requests) for chunk in big] == [8]  # a cell is never split


def test_a_cells_outputs_do_not_depend_on_the_other_cells_of_the_call():
    lm = EchoModel()
    cells = [FakeCell("c0", 5, ("a", "b")), FakeCell("c1", 6, ("a",))]
    (together,) = list(batching.chunks(cells, evaluate_on(lm), lm, key=lambda c: 0))
    batching.generate(lm, together, seeds=True, count_tokens=lambda texts: sum(len(t) for t in texts))
    (alone,) = list(batching.chunks(cells[:1], evaluate_on(lm), lm, key=lambda c: 0))
    batching.generate(lm, alone, seeds=True, count_tokens=len)
    assert lm.calls == [3, 2]
    assert together[0].outputs == alone[0].outputs == [f"c0:a|{request_seed(5, 'a')}", f"c0:b|{request_seed(5, 'b')}"]
    assert together[0].call == {"cells": 2, "requests": 3, "wall_seconds": together[0].call["wall_seconds"]}
    # The call's time is split by generated tokens (here: characters).
    tokens = [p.generated_tokens for p in together]
    assert together[0].generation_seconds / together[0].call["wall_seconds"] == pytest.approx(tokens[0] / sum(tokens))
    # Replay answers lm-eval with the cell's own outputs; the model is not called again.
    replayed = batching.replay(lm, together[1], lambda: evaluate_on(lm)(cells[1]))
    assert replayed == {"outputs": [f"c1:a|{request_seed(6, 'a')}"]} and lm.calls == [3, 2]
    assert "generate_until" not in vars(lm)  # the model answers for itself again


def test_replay_refuses_requests_other_than_those_collected():
    lm = EchoModel()
    (chunk,) = list(batching.chunks([FakeCell("c0", 0, ("a",))], evaluate_on(lm), lm, key=lambda c: 0))
    batching.generate(lm, chunk, seeds=False, count_tokens=len)
    with pytest.raises(RuntimeError, match="other requests"):
        batching.replay(lm, chunk[0], lambda: evaluate_on(lm)(FakeCell("c0", 0, ("b",))))
