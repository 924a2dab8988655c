"""Pairs: all ordered pairs or a seeded sample, world pairs with attributes, JSONL round trip, shards."""

import json

import pytest

from pcclip.errors import PcclipError
from pcclip.generate.pairs import (
    PairRecord,
    build_pairs,
    load_items,
    load_pairs,
    parse_shard,
    save_pairs,
    shard_of,
    world_items,
    world_minimal_pairs,
)
from pcclip.world.scene import ATTRIBUTES, Scene, differing_attributes

ITEMS = [("a", "a red circle"), ("b", "two blue squares"), ("c", "a green star"), ("d", "four pink hearts")]


def test_all_ordered_pairs_are_every_distinct_ordered_pair_once():
    pairs = build_pairs(ITEMS)
    assert len(pairs) == 4 * 3
    assert {(p.id_a, p.id_b) for p in pairs} == {(a, b) for a, _ in ITEMS for b, _ in ITEMS if a != b}
    first = next(p for p in pairs if (p.id_a, p.id_b) == ("b", "d"))
    assert (first.caption_a, first.caption_b, first.attributes_a) == ("two blue squares", "four pink hearts", None)


def test_sample_is_seeded_distinct_and_within_range():
    one, again, other = build_pairs(ITEMS, 7, seed=1), build_pairs(ITEMS, 7, seed=1), build_pairs(ITEMS, 7, seed=2)
    assert one == again and one != other
    assert len({p.pair_id for p in one}) == 7 and all(p.id_a != p.id_b for p in one)
    with pytest.raises(PcclipError, match="asked for 13 pairs, but 4 items make 12"):
        build_pairs(ITEMS, 13)


def test_sampling_from_many_items_is_cheap():
    items = [(str(i), f"caption {i}") for i in range(100_000)]  # ~10^10 ordered pairs
    pairs = build_pairs(items, 1000, seed=0)
    assert len({p.pair_id for p in pairs}) == 1000


def test_duplicate_item_ids_are_refused():
    with pytest.raises(PcclipError, match="item id 'a' occurs more than once"):
        build_pairs([("a", "x"), ("a", "y")])


def test_world_items_carry_attributes_that_rebuild_the_scene():
    items = world_items(5, seed=3)
    assert len({i for i, _, _ in items}) == 5
    pairs = build_pairs(items)
    a, _ = pairs[0].scenes()
    assert isinstance(a, Scene) and a.attributes() == pairs[0].attributes_a


def test_minimal_world_pairs_differ_in_one_attribute_each_in_turn():
    pairs = world_minimal_pairs(10, seed=0)
    differing = [differing_attributes(*p.scenes()) for p in pairs]
    assert all(len(d) == 1 for d in differing)
    assert [d[0] for d in differing] == list(ATTRIBUTES) * 2


def test_pairs_without_attributes_say_which_pair():
    with pytest.raises(PcclipError, match="pair 'a>b' has no world attributes"):
        build_pairs(ITEMS[:2])[0].scenes()


def test_jsonl_round_trip_and_bad_lines(tmp_path):
    pairs = world_minimal_pairs(3, seed=1) + build_pairs(ITEMS, 2)
    path = save_pairs(pairs, tmp_path / "pairs.jsonl")
    assert load_pairs(path) == pairs
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"pair_id": "x", "id_a": "a"}) + "\n")
    with pytest.raises(PcclipError, match=r"bad.jsonl: line 1: not a pair \(missing"):
        load_pairs(bad)
    bad.write_text("{not json\n")
    with pytest.raises(PcclipError, match="line 1: not valid JSON"):
        load_pairs(bad)


def test_items_file(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": 1, "caption": "a dog"}\n\n{"id": 2, "caption": "a cat", "attributes": null}\n')
    assert load_items(path) == [("1", "a dog", None), ("2", "a cat", None)]
    path.write_text('{"id": 1}\n')
    with pytest.raises(PcclipError, match="line 1: expected an object with 'id' and a string 'caption'"):
        load_items(path)


def test_shards_partition_the_pairs_independently_of_order():
    pairs = build_pairs([(str(i), "c") for i in range(30)])
    shards = [[p for p in pairs if shard_of(p, 4) == i] for i in range(4)]
    assert sorted(p.pair_id for s in shards for p in s) == sorted(p.pair_id for p in pairs)
    assert all(len(s) > 100 for s in shards)
    assert [shard_of(p, 4) for p in reversed(pairs)] == [shard_of(p, 4) for p in pairs][::-1]
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "x/2", "3"):
        with pytest.raises(PcclipError, match="expected i/n with 0 <= i < n"):
            parse_shard(bad)


def test_pair_record_is_plain_data():
    pair = PairRecord("a>b", "a", "b", "x", "y")
    assert pair.attributes_a is None and pair == PairRecord("a>b", "a", "b", "x", "y")
