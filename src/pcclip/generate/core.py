"""The generation stage: pairs -> prompts -> back end -> store, resumable, with the filter's verdict.

Every back end goes through the same steps: render each pair's prompt, derive its cache key, reuse
what the store already holds, send the rest (one request per distinct key), check each output,
judge it with the filter and commit it at once. The records come back in the pairs' order.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from ..cache import settings_hash
from .backends import Backend, Outcome, Request, create_backend
from .filters import FilterSettings, judge
from .pairs import PairRecord, shard_of
from .prompts import prompt_problem, prompt_text, render_prompt
from .settings import GenerationSettings
from .store import GenerationRecord, Store


@dataclass
class GenerationResult:
    """One run's records (one per pair, in order) and what the run did: outputs written now (ok or
    failed), pairs answered from the store, pairs whose record is a failure, and wall seconds."""

    records: list[GenerationRecord]
    generated: int
    reused: int
    failed: int
    seconds: float


def generate(
    pairs: Sequence[PairRecord],
    settings: GenerationSettings,
    store_path: Path,
    shard: tuple[int, int] | None = None,
    progress: bool = False,
) -> list[GenerationRecord]:
    """Generate (or reuse) a comparison for every pair; see `run_generation`."""
    return run_generation(pairs, settings, store_path, shard, progress).records


def run_generation(
    pairs: Sequence[PairRecord],
    settings: GenerationSettings,
    store_path: Path,
    shard: tuple[int, int] | None = None,
    progress: bool = False,
) -> GenerationResult:
    """Generate a comparison for every pair (or, with shard=(i, n), for the i-th of n disjoint shards
    of them) into the store at `store_path`, resuming from what it holds. Failures are records with
    a reason, not exceptions; a rerun tries them again. PcclipError for settings or pairs that cannot
    work at all (checked before any request)."""
    started = time.perf_counter()
    if shard is not None:
        pairs = [p for p in pairs if shard_of(p, shard[1]) == shard[0]]
    backend = create_backend(settings.backend, settings.decoding)
    try:
        backend.check(pairs)
        result = _run(pairs, settings, backend, Path(store_path), started, progress)
    finally:
        backend.close()
    if progress and result.failed:  # the bar's closing line: without it a run's failures are seen only in the store
        print(f"{backend.name} {backend.model}: {failure_summary(result.records)}", file=sys.stderr)
    return result


def failure_summary(records: Sequence[GenerationRecord]) -> str:
    """'3 of 6 pairs failed (a rerun retries them): prompt too long x3, e.g. prompt too long (...)': the
    failures grouped by kind (a reason up to its details in parentheses), most frequent first."""
    by_kind: dict[str, list[str]] = {}
    for r in records:
        if r.status == "failed":
            assert r.reason is not None  # a failed record says why
            by_kind.setdefault(r.reason.split(" (")[0], []).append(r.reason)
    parts = [
        f"{kind} x{len(reasons)}" + (f", e.g. {reasons[0]}" if reasons[0] != kind else "")
        for kind, reasons in sorted(by_kind.items(), key=lambda item: -len(item[1]))
    ]
    failed = sum(len(reasons) for reasons in by_kind.values())
    return f"{failed} of {len(records)} pairs failed (a rerun retries them): " + "; ".join(parts)


def _run(pairs, settings: GenerationSettings, backend: Backend, store_path: Path, started: float, progress: bool):
    fingerprint = settings_hash(backend.name, backend.model, backend.fingerprint())
    requests = [Request(p, render_prompt(p.caption_a, p.caption_b, settings.prompt)) for p in pairs]
    keys = [settings_hash(backend.name, backend.model, fingerprint, backend.key_inputs(r), length=32) for r in requests]
    wanted = [(key, p.pair_id) for key, p in zip(keys, pairs)]
    make = _RecordMaker(backend, fingerprint, settings)
    with Store(store_path) as store:
        completed = store.completed(keys)
        have = store.get(wanted)
        # A key completed for another pair (same captions) answers this pair too.
        store.put(
            make.copy(completed[key], request)
            for key, request in zip(keys, requests)
            if key in completed and getattr(have.get((key, request.pair.pair_id)), "status", None) != "ok"
        )
        todo: dict[str, list[int]] = {}  # key -> the pairs (indices) waiting for it
        for index, key in enumerate(keys):
            if key not in completed:
                todo.setdefault(key, []).append(index)
        send = _send_list(todo, requests, settings, store, make)
        _generate_into(store, send, requests, backend, make, progress)
        stored = store.get(wanted)
        records = [stored[kp] for kp in wanted]
        # Records from earlier runs get the current filter's verdict.
        rejudged = [make.judged(r) for r in records]
        store.set_verdicts(new for new, old in zip(rejudged, records) if new != old)
    return GenerationResult(
        rejudged,
        generated=sum(len(indices) for indices in todo.values()),
        reused=sum(key in completed for key in keys),
        failed=sum(r.status == "failed" for r in rejudged),
        seconds=time.perf_counter() - started,
    )


def _send_list(todo, requests, settings, store: Store, make: _RecordMaker) -> list[tuple[str, list[int]]]:
    """The keys to request, with their pairs; keys whose prompt must not be sent fail here, unsent."""
    send = []
    for key, indices in todo.items():
        request = requests[indices[0]]
        pair = request.pair
        problem = prompt_problem(request.prompt, pair.caption_a, pair.caption_b, settings.prompt.max_chars)
        if problem:
            store.put(make.record(requests[i], key, Outcome(error=problem)) for i in indices)
        else:
            send.append((key, indices))
    return send


def _generate_into(store: Store, send, requests, backend: Backend, make: _RecordMaker, progress: bool) -> None:
    """Ask the back end for one output per key and commit each as it arrives."""
    failed = 0
    with tqdm(
        total=len(send),
        disable=not progress,
        unit="prompt",
        desc=f"{backend.name} {backend.model}",
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        for position, outcome in backend.generate([requests[indices[0]] for _, indices in send]):
            key, indices = send[position]
            records = [make.record(requests[i], key, outcome) for i in indices]
            store.put(records)
            failed += records[0].status == "failed"
            bar.update(1)
            if failed:
                bar.set_postfix(failed=failed, refresh=False)


class _RecordMaker:
    """Builds records for one run: provenance, output checks and the filter's verdict."""

    def __init__(self, backend: Backend, fingerprint: str, settings: GenerationSettings):
        self.backend, self.fingerprint = backend, fingerprint
        self.provenance = backend.provenance()
        self.filter: FilterSettings = settings.filter
        self.max_output_chars = settings.max_output_chars

    def record(self, request: Request, key: str, outcome: Outcome) -> GenerationRecord:
        pair, raw, error = request.pair, outcome.text, outcome.error
        if error is None:
            error = _output_problem(raw, self.max_output_chars)
        if raw is not None:
            raw = _storable(raw[: self.max_output_chars])
        record = GenerationRecord(
            key=key,
            pair_id=pair.pair_id,
            id_a=pair.id_a,
            id_b=pair.id_b,
            caption_a=_storable(pair.caption_a),
            caption_b=_storable(pair.caption_b),
            prompt=_storable(prompt_text(request.prompt)),
            backend=self.backend.name,
            model=self.backend.model,
            settings=self.provenance,
            settings_hash=self.fingerprint,
            status="failed" if error else "ok",
            reason=error,
            raw=raw,
            cleaned=None,
            kept=None,
            rule=None,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return self.judged(record)

    def copy(self, done: GenerationRecord, request: Request) -> GenerationRecord:
        """The completed output of another pair with the same key, as this pair's record."""
        pair = request.pair
        return replace(
            done,
            pair_id=pair.pair_id,
            id_a=pair.id_a,
            id_b=pair.id_b,
            caption_a=pair.caption_a,
            caption_b=pair.caption_b,
            prompt=prompt_text(request.prompt),
            attempts=0,
        )

    def judged(self, record: GenerationRecord) -> GenerationRecord:
        if record.status != "ok":
            return replace(record, cleaned=None, kept=None, rule=None)
        assert record.raw is not None  # an "ok" record holds its output
        verdict, _ = judge(record.raw, self.filter)
        return replace(record, cleaned=verdict.cleaned, kept=verdict.kept, rule=verdict.rule)


def _storable(text: str) -> str:
    """Text that SQLite and JSON can hold: characters UTF-8 cannot encode (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _output_problem(text: str | None, max_chars: int) -> str | None:
    if text is None or not text.strip():
        return "empty output"
    if len(text) > max_chars:
        return f"output too long ({len(text)} characters > max_output_chars {max_chars})"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"output is not valid UTF-8 text ({e.reason} at character {e.start})"
    return None
