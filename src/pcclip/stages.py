"""The pipeline's stages as one registry: each stage's code version, the source files that decide
what it computes, and the stages whose code it builds on.

A cached result must never outlive the code that made it. Every cache key hashes its stage's
`code_tag` (its version and those of the stages it builds on), and every cached file lives under
`<cache>/<stage>/<code tag>/`, so a version bump both changes the keys and leaves the old entries in
a folder that `pcclip cache prune` removes.

The versions are bumped by hand, and `stage_digests.json` beside this file records, for each stage,
the version and a digest of its sources when they were last checked. A test fails when a stage's
sources changed and the recorded digest was not renewed: whoever changed them decides whether
the stage computes something different (bump its version below) or not, then runs
`python -m pcclip.stages --record`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
DIGESTS_FILE = PACKAGE / "stage_digests.json"


@dataclass(frozen=True)
class Stage:
    version: int
    sources: tuple[str, ...]  # files (globs) under the package that decide what the stage computes
    builds_on: tuple[str, ...] = ()
    cached: bool = True  # has a folder of its own in the cache


STAGES: dict[str, Stage] = {
    # The procedural world: scenes, rendering and phrasing (captions, the oracle's sentences).
    "world": Stage(1, ("world/*.py",), cached=False),
    # The base CLIP pretrained on the world (or a user's checkpoint, which then skips it).
    "pretrain": Stage(1, ("pretrain.py", "optim.py", "losses.py", "models.py", "model_configs/*.json", "data.py"), ("world",)),
    # The pool of training pairs (world minimal pairs, or a real dataset's sampled images).
    "pairs": Stage(1, ("data.py", "generate/pairs.py", "real_pairs.py", "datasets/*.py"), ("world",)),
    # Who writes each pair's comparison: the generation store.
    "generation": Stage(
        1,
        ("generate/core.py", "generate/prompts.py", "generate/store.py", "generate/settings.py", "generate/backends/*.py"),
        ("pairs",),
    ),
    # The paper's heuristic filter over generated text (not cached itself: it runs on every read).
    "filter": Stage(1, ("generate/filters.py",), cached=False),
    # The agreement of a generator's kept sentences with the world's ground truth (its correctness).
    "scoring": Stage(5, ("generate/scoring.py", "generate/clauses.py"), ("generation", "filter")),
    # PC-CLIP finetuning of a base model on the kept comparisons.
    "finetune": Stage(
        1,
        ("finetune.py", "optim.py", "losses.py", "distributed.py", "checkpoint.py", "encode.py", "generate/clauses.py"),
        ("pretrain", "generation", "filter"),
    ),
    # Metrics on the world's held-out set.
    "evaluation": Stage(
        1, ("evaluate.py", "metrics.py", "encode.py", "data.py", "datasets/templates.py", "datasets/comparatives.py"), ("world",)
    ),
    # Metrics on real-data benchmarks read from local files.
    "benchmarks": Stage(
        1, ("real_eval.py", "compositional.py", "evaluate.py", "metrics.py", "encode.py", "datasets/*.py", "datasets/data/*.csv")
    ),
}


def _closure(name: str) -> list[str]:
    """The stage and every stage it builds on, transitively, in a fixed order."""
    seen: list[str] = []
    todo = [name]
    while todo:
        stage = todo.pop()
        if stage not in seen:
            seen.append(stage)
            todo.extend(STAGES[stage].builds_on)
    return sorted(seen)


def code_versions(name: str) -> dict[str, int]:
    """{stage: version} of the stage and the stages it builds on: what its cached results depend on."""
    return {stage: STAGES[stage].version for stage in _closure(name)}


def code_tag(name: str) -> str:
    """A short name for `code_versions(name)`: the stage's own version and a hash of all of them,
    e.g. 'v2-1f3a9c0e'."""
    versions = code_versions(name)
    blob = json.dumps(versions, sort_keys=True).encode()
    return f"v{STAGES[name].version}-{hashlib.sha256(blob).hexdigest()[:8]}"


def stage_folder(cache_root: Path, name: str) -> Path:
    """Where the stage's results made by this code live in the cache."""
    if not STAGES[name].cached:
        raise ValueError(f"stage {name!r} keeps nothing in the cache")
    return Path(cache_root) / name / code_tag(name)


def source_files(name: str) -> list[Path]:
    files = sorted({f for pattern in STAGES[name].sources for f in PACKAGE.glob(pattern) if f.is_file()})
    if not files:
        raise ValueError(f"stage {name!r}: no source matches {STAGES[name].sources}")
    return files


def source_digest(name: str) -> str:
    """sha256 over the stage's source files (their paths and bytes)."""
    digest = hashlib.sha256()
    for path in source_files(name):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def recorded_digests() -> dict[str, dict]:
    return json.loads(DIGESTS_FILE.read_text()) if DIGESTS_FILE.is_file() else {}


def unrecorded_changes(recorded: dict[str, dict]) -> dict[str, str]:
    """{stage: what to do} for each stage whose sources or version differ from `recorded`."""
    problems = {}
    for name, stage in STAGES.items():
        entry = recorded.get(name)
        if entry is None:
            problems[name] = "no digest recorded"
        elif entry["digest"] != source_digest(name):
            problems[name] = (
                f"its sources changed since version {entry['version']} was recorded: if what it computes "
                f"changed, bump STAGES[{name!r}].version in pcclip/stages.py; then record the digest"
            )
        elif entry["version"] != stage.version:
            problems[name] = f"version {stage.version} was never recorded (recorded: {entry['version']}); record the digest"
    return problems


def record() -> dict[str, dict]:
    digests = {name: {"version": stage.version, "digest": source_digest(name)} for name, stage in STAGES.items()}
    DIGESTS_FILE.write_text(json.dumps(digests, indent=2) + "\n")
    return digests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pcclip.stages", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--record", action="store_true", help="write the current versions and source digests")
    args = parser.parse_args(argv)
    problems = unrecorded_changes(recorded_digests())
    for name, problem in problems.items():
        print(f"{name}: {problem}")
    if args.record:
        record()
        print(f"recorded {DIGESTS_FILE}")
        return 0
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
