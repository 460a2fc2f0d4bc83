"""Cross-cell batching: the generate requests of several grid cells go to the engine in one call.

lm-eval evaluates one task under one gen_kwargs per `simple_evaluate`. To hand the engine the
requests of many cells at once while keeping lm-eval's own pipeline (prompts, chat template,
filters, scoring, sample logs), each cell is evaluated in two passes around one shared call:

1. collect: `simple_evaluate` builds the cell's requests and hands them to `generate_until`, which
   records them and stops the evaluation (nothing is generated or scored);
2. one `generate_until` of the real model with the requests of every cell of the chunk; on an
   engine that takes sampling parameters per request (vLLM) each request carries its own seed
   (`decoding.request_seed` of cell seed, case id and repeat), so a cell's outputs do not depend on
   the other cells of the call;
3. replay: `simple_evaluate` runs again per cell and `generate_until` answers with that cell's
   share of the outputs; lm-eval then parses, scores and logs the samples as in a plain run.

The grid writes each cell as soon as its replay is done, so a kill loses at most one chunk.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from reportbench.decoding import request_seed

DEFAULT_MAX_REQUESTS = 1024  # requests per engine call: bounds memory and what a kill loses


class _Collected(Exception):
    """Stops lm-eval once a cell's requests are built."""


@dataclass
class PendingCell:
    cell: Any  # grid.Cell
    requests: list  # lm-eval Instances, in the order lm-eval asked for them
    collect_seconds: float
    outputs: list[str] | None = None
    generated_tokens: int = 0
    generation_seconds: float = 0.0  # this cell's share of the shared call
    call: dict | None = None  # the shared call: cells, requests, wall_seconds


@contextmanager
def _answering(lm, generate: Callable) -> Iterator[None]:
    """lm-eval calls `lm.generate_until`; an instance attribute answers instead of the model's method."""
    lm.generate_until = generate
    try:
        yield
    finally:
        del lm.generate_until


def collect(lm, evaluate: Callable[[], object]) -> list:
    """The generate_until requests that ``evaluate`` (one cell's simple_evaluate) builds, without generating."""
    captured: list = []

    def record(requests, disable_tqdm: bool = False):
        captured.extend(requests)
        raise _Collected

    with _answering(lm, record), suppress(_Collected):
        evaluate()
    return captured


def seeded(requests: Sequence, base: int) -> list:
    """Copies of the requests whose gen_kwargs carry a seed of their own; a request that has one keeps it.

    The repeat number counts earlier requests for the same task and case in this list (lm-eval
    sends a case ``repeats`` times), so every repeat samples differently and reproducibly.
    """
    repeats: Counter = Counter()
    out = []
    for request in requests:
        context, gen_kwargs = request.args
        doc = request.doc if isinstance(request.doc, dict) else {}
        case_id = str(doc.get("id", request.doc_id))
        key = (request.task_name, case_id)
        if "seed" not in gen_kwargs:
            gen_kwargs = {**gen_kwargs, "seed": request_seed(base, case_id, repeats[key])}
            request = dataclasses.replace(request, arguments=(context, gen_kwargs))
        repeats[key] += 1
        out.append(request)
    return out


def chunks(cells: Sequence, evaluate: Callable[[Any], object], lm, key: Callable[[Any], Hashable],
           max_requests: int = DEFAULT_MAX_REQUESTS, claim: Callable[[Any], bool] | None = None) -> Iterator[list[PendingCell]]:
    """The cells' requests collected and grouped: cells of one ``key`` share calls of at most
    ``max_requests`` requests (a cell is never split; a cell larger than the bound is a call of its own).
    ``claim(cell)``, asked just before a cell's requests are built, leaves the cell out when it says False
    (another process has it)."""
    groups: dict[Hashable, list] = {}
    for cell in cells:
        groups.setdefault(key(cell), []).append(cell)
    for group in groups.values():
        chunk: list[PendingCell] = []
        size = 0
        for cell in group:
            if claim is not None and not claim(cell):
                continue
            start = time.perf_counter()
            requests = collect(lm, lambda cell=cell: evaluate(cell))
            pending = PendingCell(cell, requests, time.perf_counter() - start)
            if chunk and size + len(requests) > max_requests:
                yield chunk
                chunk, size = [], 0
            chunk.append(pending)
            size += len(requests)
        if chunk:
            yield chunk


def generate(lm, chunk: Sequence[PendingCell], seeds: bool, count_tokens: Callable[[list[str]], int]) -> None:
    """One generate_until call for every request of the chunk; the outputs go back to their cells.

    The call's wall time is apportioned to the cells by their share of the generated tokens (by
    their share of requests when nothing was generated).
    """
    requests = [r for p in chunk for r in (seeded(p.requests, p.cell.seed) if seeds else p.requests)]
    start = time.perf_counter()
    outputs = lm.generate_until(requests) if requests else []
    seconds = time.perf_counter() - start
    if len(outputs) != len(requests):
        raise RuntimeError(f"the model answered {len(outputs)} of {len(requests)} requests")
    at = 0
    for pending in chunk:
        pending.outputs = list(outputs[at:at + len(pending.requests)])
        at += len(pending.requests)
        pending.generated_tokens = count_tokens(pending.outputs)
    total = sum(p.generated_tokens for p in chunk)
    call = {"cells": len(chunk), "requests": len(requests), "wall_seconds": seconds}
    for pending in chunk:
        share = pending.generated_tokens / total if total else len(pending.requests) / max(1, len(requests))
        pending.generation_seconds = seconds * share
        pending.call = call


def replay(lm, pending: PendingCell, evaluate: Callable[[], object]):
    """``evaluate`` (the cell's simple_evaluate) again, answered with the cell's outputs from the shared call."""

    def answer(requests, disable_tqdm: bool = False):
        if [r.args for r in requests] != [r.args for r in pending.requests]:
            raise RuntimeError(f"cell {pending.cell.cell_id}: lm-eval built other requests than when they were collected")
        return list(pending.outputs)

    with _answering(lm, answer):
        return evaluate()
