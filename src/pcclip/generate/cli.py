"""The generation commands of `pcclip`: pairs, generate, filter, score and store (merge, export)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PcclipError


def _cmd_pairs(args: argparse.Namespace) -> None:
    from .pairs import build_pairs, load_items, save_pairs, world_items, world_minimal_pairs

    if args.world is not None and args.world < 1:
        raise PcclipError(f"--world {args.world}: give a positive number of {'pairs' if args.minimal else 'scenes'}")
    if args.minimal:
        if args.world is None:
            raise PcclipError("--minimal builds world pairs: give --world N (the number of pairs)")
        pairs = world_minimal_pairs(args.world, args.seed)
    else:
        items = world_items(args.world, args.seed) if args.world is not None else load_items(args.items)
        if len(items) < 2:
            source = f"--world {args.world}" if args.world is not None else args.items
            raise PcclipError(f"{source}: {len(items)} item(s) make no ordered pair; give at least 2")
        pairs = build_pairs(items, args.pairs, args.seed)
    save_pairs(pairs, args.output)
    print(f"{len(pairs)} ordered pairs -> {args.output}")


def _cmd_generate(args: argparse.Namespace) -> None:
    from .core import failure_summary, run_generation
    from .filters import FilterReport, apply_filter
    from .pairs import load_pairs, parse_shard
    from .settings import load_generation_settings
    from .store import export_jsonl

    # a directory for a file is refused before any work (--output would fail only after the generation)
    for path, what in ((args.pairs, "the pairs file"), (args.output, "--output")):
        if path is not None and path.is_dir():
            raise PcclipError(f"{path}: is a directory; {what} must be a file")
    settings = load_generation_settings(args.config, args.set)
    shard = parse_shard(args.shard) if args.shard else None
    pairs = load_pairs(args.pairs)
    result = run_generation(pairs, settings, args.store, shard=shard, progress=not args.quiet)
    records = result.records
    if args.output:
        export_jsonl(records, args.output)
    done = len(records) - result.failed
    print(
        f"{settings.backend.backend} {records[0].model if records else ''}: {len(records)} pairs"
        f"{f' (shard {args.shard})' if shard else ''}: {result.generated} generated now, {result.reused} from the store; "
        f"{done} completed, {result.failed} failed; {result.seconds:.1f} s"
        + (f", {result.generated / result.seconds:.1f} pairs/s" if result.generated else "")
    )
    if result.failed and args.quiet:  # without --quiet, the progress bar's closing line said it
        print(failure_summary(records))
    report: FilterReport = apply_filter(records, settings.filter.enabled, settings.filter)[1]
    print("\n".join(report.lines()))
    if records and all(p.attributes_a is not None for p in pairs):
        _print_agreement(records, pairs)
    print(f"store: {args.store}" + (f"; records: {args.output}" if args.output else ""))
    if records and result.failed == len(records):
        raise PcclipError(f"every one of the {len(records)} pairs failed (the reasons are above and in {args.store})")


def _print_agreement(records, pairs) -> None:
    from .scoring import agreement

    kept = [r for r in records if r.kept]
    print("raw outputs, " + "\n".join(agreement(records, pairs, text="raw").lines()))
    print("kept after the filter, " + "\n".join(agreement(kept, pairs).lines()))


def _cmd_filter(args: argparse.Namespace) -> None:
    from .filters import FilterSettings, apply_filter
    from .store import export_jsonl, load_records

    records = load_records(args.records)
    kept, report = apply_filter(records, enabled=not args.off, settings=FilterSettings(min_chars=args.min_chars))
    export_jsonl(kept, args.output)
    print("\n".join(report.lines()))
    print(f"{len(kept)} kept -> {args.output}")


def _cmd_score(args: argparse.Namespace) -> None:
    """Agreement of the records with the world's ground truth; with --curve STUDY_JSON, also where a
    writer this correct lands on that study's quality curve, read from its `quality_curve` key:
    {"metric": name, "points": [{"correctness": x, "value": y}, ...]} (pcclip.quality.fit_study_curve)."""
    from ..cache import read_json
    from ..quality import fit_study_curve
    from .pairs import load_pairs
    from .scoring import agreement
    from .store import load_records

    # A bad study file fails before any scoring.
    curve = fit_study_curve(read_json(args.curve), str(args.curve)) if args.curve else None
    pairs = load_pairs(args.pairs)
    records = load_records(args.records)
    unknown = {r.pair_id for r in records} - {p.pair_id for p in pairs}
    if unknown:
        raise PcclipError(f"{args.records}: pair {sorted(unknown)[0]!r} is not in {args.pairs}")
    groups: dict[str, list] = {}
    for record in records:  # a store may hold several settings' records (a prompt changed, ...): each scored apart
        groups.setdefault(record.settings_hash, []).append(record)
    for settings_hash, group in groups.items():
        if len(groups) > 1:
            print(f"== settings {settings_hash} ({group[0].backend} {group[0].model}): {len(group)} records")
        _print_score(agreement(group, pairs, text="raw" if args.raw else "cleaned"), curve, args.records)


def _print_score(report, curve, source: Path) -> None:
    from ..quality import order_caveat

    print("\n".join(report.lines()))
    if curve:
        if not report.total:
            raise PcclipError(f"{source}: no completed sentence, so no correctness to place on the curve")
        prediction = curve.predict(report.correct / report.total)
        low, high = curve.correctness_range
        print(
            f"correct: {prediction.correctness:.2f} -> predicted {curve.metric} {prediction.value:.3f} "
            f"[{prediction.low:.2f}, {prediction.high:.2f}]"
            + (f" (extrapolated: the curve spans correct {low:.2f}-{high:.2f})" if prediction.extrapolated else "")
        )
        caveat = order_caveat(report.correct_second_first / max(report.correct, 1))
        if caveat:
            print(caveat)


def _cmd_store_merge(args: argparse.Namespace) -> None:
    from .store import merge_stores

    counts = merge_stores(args.into, args.shards)
    print(f"{args.into}: {counts.get('ok', 0)} completed, {counts.get('failed', 0)} failed")


def _cmd_store_export(args: argparse.Namespace) -> None:
    from .store import Store, export_jsonl

    with Store(args.store, readonly=True) as store:
        records = store.records()
    export_jsonl(records, args.output)
    print(f"{len(records)} records -> {args.output}")


def register_generate_commands(sub: argparse._SubParsersAction) -> None:
    """Add the generation commands to `pcclip`'s subcommands."""
    pairs = sub.add_parser("pairs", help="ordered image pairs (world scenes or a captions file) -> JSONL")
    source = pairs.add_mutually_exclusive_group(required=True)
    source.add_argument("--world", type=int, metavar="N", help="N world scenes with captions and attributes")
    source.add_argument("--items", type=Path, help='JSONL of {"id": ..., "caption": ...[, "attributes": {...}]}')
    pairs.add_argument("--minimal", action="store_true", help="with --world: N pairs each differing in one attribute")
    pairs.add_argument("--pairs", type=int, metavar="M", help="a seeded sample of M ordered pairs (default: all)")
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--output", "-o", type=Path, required=True, help="pairs JSONL to write")
    pairs.set_defaults(func=_cmd_pairs)

    gen = sub.add_parser("generate", help="write a comparison for every pair (resumable; see --set backend.backend)")
    gen.add_argument("pairs", type=Path, help="pairs JSONL (from `pcclip pairs`)")
    gen.add_argument("--store", type=Path, required=True, help="SQLite store: outputs are cached and resumed here")
    gen.add_argument("--config", type=Path, help="TOML generation settings ([backend], [prompt], [decoding], [filter])")
    gen.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set backend.backend=hf --set prompt.style=chat (repeatable)",
    )
    gen.add_argument("--shard", metavar="I/N", help="only the I-th of N disjoint shards of the pairs (0 <= I < N)")
    gen.add_argument("--output", "-o", type=Path, help="also write this run's records as JSONL")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_cmd_generate)

    filt = sub.add_parser("filter", help="apply the paper's filter to exported records; print what each rule removed")
    filt.add_argument("records", type=Path, help="records JSONL (from `pcclip generate --output` or `pcclip store export`)")
    filt.add_argument("--output", "-o", type=Path, required=True, help="kept records JSONL")
    filt.add_argument("--off", action="store_true", help="keep every completed output (the paper's no-filter ablation)")
    filt.add_argument("--min-chars", type=int, default=60, help="the too-short threshold (the paper: 60)")
    filt.set_defaults(func=_cmd_filter)

    score = sub.add_parser("score", help="agreement of records with the world's ground truth")
    score.add_argument("records", type=Path, help="records JSONL, or the store (.sqlite) a generation wrote")
    score.add_argument("pairs", type=Path, help="the world pairs JSONL the records were generated from")
    score.add_argument("--raw", action="store_true", help="score the raw outputs instead of the cleaned ones")
    score.add_argument(
        "--curve",
        type=Path,
        metavar="STUDY_JSON",
        help="a study.json with a quality curve: print the metric predicted at these records' correctness",
    )
    score.set_defaults(func=_cmd_score)

    store = sub.add_parser("store", help="merge shard stores or export a store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    merge = store_sub.add_parser("merge", help="merge shard stores into one")
    merge.add_argument("shards", type=Path, nargs="+")
    merge.add_argument("--into", type=Path, required=True)
    merge.set_defaults(func=_cmd_store_merge)
    export = store_sub.add_parser("export", help="every record of a store as JSONL")
    export.add_argument("store", type=Path)
    export.add_argument("output", type=Path)
    export.set_defaults(func=_cmd_store_export)
