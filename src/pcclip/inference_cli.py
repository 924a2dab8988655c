"""The commands that use a trained model: compare, rank, search (by difference) and export."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from .errors import PcclipError


def _model(args: argparse.Namespace):
    from .inference import load

    return load(args.model, args.pretrained, args.device, args.batch_size)


def _cmd_compare(args: argparse.Namespace) -> None:
    scored = _model(args).which(args.image_a, args.image_b, args.sentences)
    print(
        f"how {args.image_a} (a) differs from {args.image_b} (b), best first: cos(sentence, a - b); "
        "> 0: the sentence fits a vs b better than b vs a"
    )
    for s in scored:
        print(f"{s.score:+.4f}  {s.item}")


def _print_table(scored, header: str) -> None:
    print(f"{'rank':>4s}  {header:>7s}  image")
    for position, s in enumerate(scored, 1):
        print(f"{position:4d}  {s.score:+7.4f}  {s.item}")


def _cmd_rank(args: argparse.Namespace) -> None:
    if args.output is not None and args.output.suffix.lower() not in (".csv", ".json"):
        raise PcclipError(f"-o {args.output}: give a .csv or .json file")
    scored = _model(args).rank(args.folder, more=args.by, less=args.less)
    _print_table(scored, "score")
    if args.output is not None:
        rows = [{"rank": position, "score": s.score, "image": str(s.item)} for position, s in enumerate(scored, 1)]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("w", newline="", encoding="utf-8") as f:
            if args.output.suffix.lower() == ".json":
                json.dump(rows, f, indent=2)
            else:
                writer = csv.DictWriter(f, fieldnames=["rank", "score", "image"])
                writer.writeheader()
                writer.writerows(rows)
        print(f"ranking: {args.output}")


def _cmd_search(args: argparse.Namespace) -> None:
    scored = _model(args).search(args.query, args.sentence, args.folder, k=args.k, step=args.step)
    _print_table(scored, "cosine")


def _cmd_export(args: argparse.Namespace) -> None:
    from .export import export_model

    out = export_model(args.checkpoint, args.output_dir, args.model, args.metrics)
    print(f"exported to {out}: open_clip.create_model_and_transforms('local-dir:{out}'); model card {out / 'README.md'}")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="architecture (default: the one the checkpoint names; `pcclip models` lists them)")
    parser.add_argument("--pretrained", help="a checkpoint file (pcclip's or open_clip's) or an open_clip pretrained tag")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: cuda when a GPU is visible")
    parser.add_argument("--batch-size", type=int, default=64, help="images embedded at once")


def register_inference_commands(sub: argparse._SubParsersAction) -> None:
    """Add the commands that use a trained model to `pcclip`'s subcommands."""
    compare = sub.add_parser("compare", help="how well each sentence says how image A differs from image B")
    compare.add_argument("image_a", type=Path)
    compare.add_argument("image_b", type=Path)
    compare.add_argument("sentences", nargs="+", metavar="SENTENCE", help="e.g. 'the shapes are larger'; several are ranked")
    _add_model_options(compare)
    compare.set_defaults(func=_cmd_compare)

    rank = sub.add_parser("rank", help="order a folder's images along an attribute given by a comparative sentence")
    rank.add_argument("folder", type=Path, help="folder of images")
    rank.add_argument(
        "--by",
        action="append",
        required=True,
        metavar="SENTENCE",
        help="says an image has more of the attribute, e.g. 'larger' (repeatable: averaged)",
    )
    rank.add_argument(
        "--less",
        action="append",
        metavar="SENTENCE",
        help="the opposite, e.g. 'smaller' (repeatable); its direction is subtracted",
    )
    rank.add_argument("--output", "-o", type=Path, help="also write the ranking as .csv or .json")
    _add_model_options(rank)
    rank.set_defaults(func=_cmd_rank)

    search = sub.add_parser("search", help="a folder's images that differ from QUERY as the sentence says")
    search.add_argument("query", type=Path, help="query image")
    search.add_argument("sentence", help="how a result differs from the query, e.g. 'there are more shapes'")
    search.add_argument("folder", type=Path, help="folder of images to search (the query itself is never an answer)")
    search.add_argument("-k", type=int, default=5, help="number of results")
    search.add_argument("--step", type=float, default=1.0, help="how far the query moves along the sentence's direction")
    _add_model_options(search)
    search.set_defaults(func=_cmd_search)

    export = sub.add_parser("export", help="a checkpoint in open_clip's shareable layout, with a model card")
    export.add_argument("checkpoint", type=Path, help="a pcclip checkpoint (.safetensors)")
    export.add_argument("output_dir", type=Path)
    export.add_argument("--model", help="architecture (default: the one the checkpoint names)")
    export.add_argument(
        "--metrics", type=Path, help="an evaluation JSON or a run's results.json: the model card lists its metrics"
    )
    export.set_defaults(func=_cmd_export)
