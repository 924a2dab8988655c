"""The store: WAL mode, what a rerun reuses, success never replaced by failure, merging shards,
export, and the generate loop's resume and sharding on top of it (with the oracle and rule back ends)."""

import sqlite3
from dataclasses import replace

import pytest

from pcclip.errors import PcclipError
from pcclip.generate import GenerationSettings, generate, run_generation
from pcclip.generate.pairs import build_pairs, world_minimal_pairs
from pcclip.generate.store import Store, export_jsonl, load_records, merge_stores
from test_generate_filters import LONG, record


def test_store_is_wal_and_upserts_by_key_and_pair(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.put([record(None, status="failed")])
        store.put([record(LONG)])  # success replaces a failure
        store.put([record(None, status="failed")])  # a failure never replaces a success
        store.put([replace(record(LONG), pair_id="q")])
        assert store.counts() == {"ok": 2}
        assert store.get([("k", "p")])["k", "p"].attempts == 2  # the ignored failure is not counted
        assert set(store.completed(["k", "other"])) == {"k"}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unusable_files_are_one_clear_error(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(PcclipError, match="not a usable generation store"):
        Store(junk)
    with pytest.raises(PcclipError, match="no such store"):
        Store(tmp_path / "missing.sqlite", readonly=True)


def test_merge_prefers_success_and_export_round_trips(tmp_path):
    with Store(tmp_path / "a.sqlite") as a:
        a.put([record(LONG, pair="p1"), record(None, status="failed", pair="p2")])
    with Store(tmp_path / "b.sqlite") as b:
        b.put([record(LONG + " b", pair="p2"), record(None, status="failed", pair="p1")])
    counts = merge_stores(tmp_path / "all.sqlite", [tmp_path / "a.sqlite", tmp_path / "b.sqlite"])
    assert counts == {"ok": 2}
    with Store(tmp_path / "all.sqlite", readonly=True) as merged:
        records = merged.records()
    assert [(r.pair_id, r.raw) for r in records] == [("p1", LONG), ("p2", LONG + " b")]
    path = export_jsonl(records, tmp_path / "out.jsonl")
    assert load_records(path) == records
    assert load_records(tmp_path / "all.sqlite") == records  # the store itself reads the same (pcclip score STORE)
    with pytest.raises(PcclipError, match="cannot merge a store into itself"):
        merge_stores(tmp_path / "a.sqlite", [tmp_path / "a.sqlite"])


def oracle(**filter_settings):
    return GenerationSettings.model_validate({"backend": {"backend": "oracle"}, "filter": filter_settings})


def test_rerun_reuses_everything_and_refilters(tmp_path):
    pairs = world_minimal_pairs(10, seed=0)
    first = run_generation(pairs, oracle(), tmp_path / "s.sqlite")
    assert (first.generated, first.reused, first.failed) == (10, 0, 0)
    assert [r.pair_id for r in first.records] == [p.pair_id for p in pairs]
    assert all(r.raw and r.backend == "oracle" and r.model == "world-oracle-train" for r in first.records)
    again = run_generation(pairs, oracle(min_chars=0), tmp_path / "s.sqlite")
    assert (again.generated, again.reused) == (0, 10)
    assert [r.raw for r in again.records] == [r.raw for r in first.records]
    assert all(r.kept for r in again.records)  # the current filter's verdict, also stored
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        assert all(r.kept for r in store.records())


def test_key_changes_with_output_settings_only(tmp_path):
    pairs = world_minimal_pairs(4, seed=0)
    base = generate(pairs, oracle(), tmp_path / "s.sqlite")
    other_filter = generate(pairs, oracle(min_chars=10), tmp_path / "s.sqlite")
    other_seed = generate(
        pairs, GenerationSettings.model_validate({"backend": {"backend": "oracle", "seed": 1}}), tmp_path / "s.sqlite"
    )
    assert [r.key for r in base] == [r.key for r in other_filter]
    assert not {r.key for r in base} & {r.key for r in other_seed}


def test_pairs_with_the_same_captions_share_one_generation(tmp_path):
    pairs = build_pairs([("a", "a red circle"), ("b", "a blue star"), ("c", "a red circle")])
    rule = GenerationSettings.model_validate({"backend": {"backend": "rule"}})
    records = generate(pairs, rule, tmp_path / "s.sqlite")
    by_pair = {r.pair_id: r for r in records}
    assert by_pair["a>b"].key == by_pair["c>b"].key and by_pair["a>b"].raw == by_pair["c>b"].raw
    assert by_pair["a>c"].status == "failed" and by_pair["a>c"].reason == "the captions have the same content words"
    assert by_pair["a>b"].raw == "the first image has red, circle where the second image has blue, star"


def test_shards_then_merge_equal_one_run(tmp_path):
    pairs = world_minimal_pairs(12, seed=2)
    whole = generate(pairs, oracle(), tmp_path / "whole.sqlite")
    shards = [generate(pairs, oracle(), tmp_path / f"shard{i}.sqlite", shard=(i, 3)) for i in range(3)]
    assert sum(len(s) for s in shards) == 12 and all(shards)
    merge_stores(tmp_path / "merged.sqlite", [tmp_path / f"shard{i}.sqlite" for i in range(3)])
    merged = generate(pairs, oracle(), tmp_path / "merged.sqlite")
    assert [(r.pair_id, r.raw) for r in merged] == [(r.pair_id, r.raw) for r in whole]


def test_oracle_without_attributes_names_the_pair(tmp_path):
    pairs = build_pairs([("a", "a red circle"), ("b", "a blue star")])
    with pytest.raises(PcclipError, match="needs world attributes, and pair 'a>b' has none"):
        generate(pairs, oracle(), tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists()  # refused before any work
