"""The degraded oracle: each error kind is judged by the scorer as what it is labelled, error_rate 0 is
the oracle, 1 leaves no correct sentence, the errors nest as the rate grows, and bad settings say
what is wrong."""

import numpy as np
import pytest

from pcclip.errors import PcclipError
from pcclip.generate import generate, judge_sentence, load_generation_settings
from pcclip.generate.backends import DecodingSettings, Request, create_backend
from pcclip.generate.backends.degraded import ERROR_KINDS, KIND_OF_VERDICT, DegradedOracleSettings
from pcclip.generate.backends.oracle import OracleSettings
from pcclip.generate.pairs import build_pairs, world_items, world_minimal_pairs
from pcclip.generate.prompts import PromptSettings, render_prompt
from pcclip.world.scene import differing_attributes

EXPECTED_VERDICTS = {kind: {v for v, k in KIND_OF_VERDICT.items() if k == kind} for kind in ERROR_KINDS}


@pytest.fixture(scope="module")
def world_pairs():
    """Minimal pairs (one attribute differs) and random pairs (several, sometimes all five, differ)."""
    return world_minimal_pairs(250, seed=1) + build_pairs(world_items(60, seed=2), 250, seed=2)


def texts(pairs, split="train", seed=0, **errors) -> list[str | None]:
    """What the degraded oracle (the oracle, without `errors` settings) writes for each pair, None
    where it fails; no store."""
    settings = OracleSettings(split=split, seed=seed) if not errors else DegradedOracleSettings(split=split, seed=seed, **errors)
    backend = create_backend(settings, DecodingSettings())
    requests = [Request(p, render_prompt(p.caption_a, p.caption_b, PromptSettings())) for p in pairs]
    out: list[str | None] = [None] * len(pairs)
    for index, outcome in backend.generate(requests):
        out[index] = outcome.text
    return out


def verdict(text, pair):
    a, b = pair.scenes()
    return judge_sentence(text, a, b, (pair.caption_a, pair.caption_b)).verdict


def test_the_kinds_and_the_verdicts_they_map_from_are_one_registry():
    assert list(ERROR_KINDS) == ["reversed", "wrong_attribute", "vague", "off_topic"]
    assert EXPECTED_VERDICTS == {
        "reversed": {"wrong-direction"},
        "wrong_attribute": {"false", "wrong-attribute"},
        "vague": {"unjudged"},
        "off_topic": {"no-attribute"},
    }


@pytest.mark.parametrize("split", ["train", "eval"])
@pytest.mark.parametrize("kind", list(ERROR_KINDS))
def test_each_error_kind_is_judged_as_labelled(kind, split, world_pairs):
    written = texts(world_pairs, split, error_rate=1.0, error_mix={kind: 1.0})
    judged = [(verdict(t, p), t) for t, p in zip(written, world_pairs) if t is not None]
    assert [(v, t) for v, t in judged if v not in EXPECTED_VERDICTS[kind]] == []
    # Only a wrong attribute can be impossible: when the two scenes differ in every attribute.
    failed = {p.pair_id for t, p in zip(written, world_pairs) if t is None}
    every_attribute = {p.pair_id for p in world_pairs if len(_differing(p)) == 5}
    assert failed == (every_attribute if kind == "wrong_attribute" else set())


def _differing(pair):
    return differing_attributes(*pair.scenes())


def test_an_impossible_kind_gives_way_to_the_rest_of_the_mix(world_pairs):
    every_attribute = [p for p in world_pairs if len(_differing(p)) == 5]
    assert every_attribute  # the random pairs include some
    mixed = texts(every_attribute, error_rate=1.0, error_mix={"wrong_attribute": 1.0, "vague": 1e-9})
    assert {verdict(t, p) for t, p in zip(mixed, every_attribute)} == {"unjudged"}


def test_error_rate_zero_is_the_oracle(world_pairs):
    for split, seed in (("train", 0), ("eval", 3)):
        assert texts(world_pairs, split, seed, error_rate=0.0) == texts(world_pairs, split, seed)


def test_error_rate_one_leaves_no_correct_sentence(world_pairs):
    written = texts(world_pairs, error_rate=1.0)
    oracle = texts(world_pairs)
    assert not any(t == o for t, o in zip(written, oracle))
    assert "correct" not in {verdict(t, p) for t, p in zip(written, world_pairs)}


def test_error_share_is_binomial_and_errors_nest_as_the_rate_grows():
    pairs = world_minimal_pairs(2000, seed=5)
    oracle = texts(pairs)
    errors = {}
    for rate in (0.25, 0.5, 0.75):
        errors[rate] = {p.pair_id for p, t, o in zip(pairs, texts(pairs, error_rate=rate), oracle) if t != o}
    assert abs(len(errors[0.5]) - 1000) <= 3 * np.sqrt(2000 * 0.25)  # 3 binomial standard deviations
    assert errors[0.25] < errors[0.5] < errors[0.75]


def test_the_default_mix_draws_every_kind_in_its_share():
    pairs = world_minimal_pairs(1000, seed=6)  # every pair leaves room for every kind
    settings = DegradedOracleSettings(error_rate=1.0)
    assert sum(settings.error_mix.values()) == pytest.approx(1.0)
    kinds = [KIND_OF_VERDICT[verdict(t, p)] for t, p in zip(texts(pairs, error_rate=1.0), pairs)]
    drawn = {kind: kinds.count(kind) / len(kinds) for kind in ERROR_KINDS}
    for kind, share in settings.error_mix.items():
        assert abs(drawn[kind] - share) <= 3 * np.sqrt(share * (1 - share) / len(kinds)) + 0.01, (kind, drawn)


def test_through_the_store_and_the_settings_file(tmp_path, world_pairs):
    settings = load_generation_settings(
        None, ["backend.backend=degraded-oracle", "backend.error_rate=0.5", "backend.error_mix={reversed = 2, vague = 2}"]
    )
    assert settings.backend.error_mix == {"reversed": 0.5, "wrong_attribute": 0.0, "vague": 0.5, "off_topic": 0.0}
    records = generate(world_pairs[:40], settings, tmp_path / "gen.sqlite")
    assert [r.raw for r in records] == texts(world_pairs[:40], error_rate=0.5, error_mix={"reversed": 1, "vague": 1})
    assert {verdict(r.raw, p) for r, p in zip(records, world_pairs)} == {"correct", "wrong-direction", "unjudged"}


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "backend.error_mix={reversd = 1}",
            "unknown error kind 'reversd'; the kinds are reversed, wrong_attribute, vague, off_topic",
        ),
        ("backend.error_mix={vague = -1, reversed = 2}", "the weight of 'vague' is -1.0; weights must be >= 0"),
        ("backend.error_mix={vague = 0}", "the weights sum to 0; give at least one error kind a positive weight"),
        ("backend.error_rate=1.5", r"error_rate: Input should be less than or equal to 1"),
        ("backend.errorrate=0.5", "unknown key 'errorrate' for the degraded-oracle back end; allowed: backend, error_rate"),
    ],
)
def test_bad_settings_say_what_is_wrong(override, message):
    rate = [] if "error_rate" in override else ["backend.error_rate=0.5"]
    with pytest.raises(PcclipError, match=message):
        load_generation_settings(None, ["backend.backend=degraded-oracle", *rate, override])


def test_error_rate_must_be_given():
    with pytest.raises(PcclipError, match="error_rate: Field required"):
        load_generation_settings(None, ["backend.backend=degraded-oracle"])


def test_pairs_without_world_attributes_are_refused(tmp_path):
    pairs = build_pairs([("a", "a red star"), ("b", "a blue star")])
    settings = load_generation_settings(None, ["backend.backend=degraded-oracle", "backend.error_rate=0.5"])
    with pytest.raises(PcclipError, match="the oracle back end needs world attributes, and pair 'a>b' has none"):
        generate(pairs, settings, tmp_path / "gen.sqlite")
