"""The `pcclip` command: a thin layer over the library. User errors print one line, no traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import PcclipError


def _cmd_run(args: argparse.Namespace) -> None:
    from .config import RunSettings
    from .pipeline import run
    from .report import format_run_table
    from .settings_io import load_settings

    settings = load_settings(RunSettings, args.config, args.set)
    summary = run(settings, args.output)
    print(format_run_table(summary))
    times = ", ".join(f"{k} {v:.1f}s" for k, v in summary["stage_seconds"].items()) or "all cached"
    print(f"\nstage times: {times}; peak memory {summary['peak_rss_mb']:.0f} MB")
    print(f"results: {args.output / 'results.json'}")


def _cmd_finetune(args: argparse.Namespace) -> None:
    from .config import RunSettings
    from .distributed import finetune_checkpoints, launched
    from .optim import distributed_rank_and_size
    from .settings_io import load_settings

    settings = load_settings(RunSettings, args.config, args.set + ([f"device={args.device}"] if args.device else []))
    seeds = settings.seeds if args.seed is None else (args.seed,)
    with launched(settings.device):
        paths = finetune_checkpoints(settings, args.output, seeds)
        if distributed_rank_and_size()[0] == 0:
            for seed, path in zip(seeds, paths):
                print(f"checkpoint (seed {seed}): {path}")


def _cmd_study(args: argparse.Namespace) -> None:
    if args.dry_run or args.slurm_dir is not None or args.only_jobs is not None:
        from .study_plan import plan_command

        plan_command(args)
        return
    from .cache import default_cache_root
    from .report import write_report
    from .study import load_study, run_study

    settings = load_study(args.config, args.set)
    output = args.output or Path("runs") / settings.name
    study = run_study(settings, output)
    md, page = write_report(study, output, echo=print)
    times = ", ".join(f"{k} {v:.1f}s" for k, v in study["stage_seconds"].items()) or "all cached"
    print(f"stage times: {times}; peak memory {study['peak_rss_mb']:.0f} MB")
    print(f"report: {md} and {page}")
    cache = settings.run.cache_dir or default_cache_root()
    print(f"checkpoints: every row's, per seed, in {output / 'study.json'} under 'checkpoints' (paths under {cache})")


def _cmd_report(args: argparse.Namespace) -> None:
    from .report import read_study, write_report

    md, page = write_report(read_study(args.study), args.output or args.study.parent, args.readme)
    print(f"report: {md} and {page}" + (f"; its summary copied into {args.readme}" if args.readme else ""))


def _cmd_models(args: argparse.Namespace) -> None:
    from .models import list_models, register_model_configs

    own = set(register_model_configs())
    for name in list_models():
        print(f"{name}{'  (pcclip)' if name in own else ''}")


def _cmd_eval(args: argparse.Namespace) -> None:
    from .cache import write_json
    from .compositional import check_roots, evaluate_compositional, format_table, load_compositional, parse_benchmark_spec
    from .inference import resolve_model_name
    from .models import create_model
    from .optim import resolve_device

    if args.output is not None and args.output.suffix.lower() != ".json":
        raise PcclipError(f"-o {args.output}: give a .json file")
    specs = [parse_benchmark_spec(spec) for spec in args.benchmark]
    check_roots(specs)  # every folder, then every annotation file, before any model is built
    loaded = [load_compositional(spec) for spec in specs]
    name = resolve_model_name(args.model, args.pretrained)
    model, tokenizer = create_model(name, args.pretrained, resolve_device(args.device))
    results = [
        evaluate_compositional(
            model,
            tokenizer,
            spec.name,
            spec.root,
            spec.images,
            data=data,
            model_name=name,
            pretrained=args.pretrained,
            batch_size=args.batch_size,
        )
        for spec, data in zip(specs, loaded)
    ]
    print(format_table(results))
    if args.output is not None:
        write_json(args.output, {"model": name, "pretrained": args.pretrained, "results": results})
        print(f"results: {args.output}")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _cmd_cache(args: argparse.Namespace) -> None:
    import time

    from .cache import cache_entries, default_cache_root, prune

    root = args.cache_dir or default_cache_root()
    entries = cache_entries(root)
    if not entries:
        print(f"{root}: no cached results")
        return
    print(f"{'stage':12s} {'code':12s} {'state':8s} {'files':>6s} {'size':>10s} {'newest':>9s}")
    for e in entries:
        state = "current" if e.current else "stale"
        print(f"{e.stage:12s} {e.code:12s} {state:8s} {e.files:6d} {e.bytes / 2**20:7.1f} MB {_age(time.time() - e.newest):>9s}")
    stale = [e for e in entries if not e.current]
    if args.action == "prune":
        freed = prune(root, stale)
        print(f"removed {len(stale)} stale folders ({freed / 2**20:.1f} MB) from {root}")
    elif stale:
        print(f"{len(stale)} stale folders ({sum(e.bytes for e in stale) / 2**20:.1f} MB): `pcclip cache prune` removes them")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pcclip", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="world -> base CLIP -> oracle pairs -> PC-CLIP finetune -> evaluation")
    run.add_argument("--config", type=Path, help="TOML settings file (default: the embedded default)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set finetune.lr=1e-5 (repeatable)",
    )
    run.add_argument("--output", type=Path, default=Path("runs/default"), help="where results.json goes")
    run.set_defaults(func=_cmd_run)

    finetune = sub.add_parser("finetune", help="the finetune stage of a run config alone; runs under torchrun")
    finetune.add_argument(
        "config", type=Path, nargs="?", help="run TOML, as `run --config` takes (default: the embedded default)"
    )
    finetune.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set finetune.epochs=3 (repeatable)",
    )
    finetune.add_argument("--seed", type=int, help="finetune this seed only (default: every seed of the config)")
    finetune.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="cuda: this rank's GPU (LOCAL_RANK), nccl; cpu: gloo; auto: cuda when a GPU is visible "
        "(default: the config's `device`)",
    )
    finetune.add_argument("--output", type=Path, default=Path("runs/default"), help="where TensorBoard logs go")
    finetune.set_defaults(func=_cmd_finetune)

    study = sub.add_parser("study", help="both ablations of the plan as one grid, with a report")
    study.add_argument("config", type=Path, nargs="?", help="study TOML (default: the embedded default's plan)")
    study.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set run.seeds=[0,1] (repeatable)",
    )
    study.add_argument("--output", type=Path, help="where study.json and the report go (default: runs/<name>)")
    study.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (every job, its estimated cost from measured figures, LLM calls, what is skipped "
        "here and why) and exit: nothing is trained, generated or sent",
    )
    study.add_argument(
        "--slurm-dir",
        type=Path,
        metavar="DIR",
        help="print the plan and write sbatch scripts to DIR: prepare.sbatch (generations, base model), one "
        "script per group of jobs, report.sbatch, and submit_all.sh that submits them with afterok dependencies",
    )
    study.add_argument(
        "--cells-per-job", type=int, default=1, metavar="N", help="--slurm-dir: jobs of the plan per script (default 1)"
    )
    study.add_argument(
        "--slurm-gpus", type=int, default=1, metavar="N", help="--slurm-dir: GPUs per script (default 1; 0: CPU only)"
    )
    study.add_argument(
        "--slurm-time",
        metavar="TIME",
        help="--slurm-dir: every script's time limit, e.g. 12:00:00 (default: the estimate x 1.5 where it is measured)",
    )
    study.add_argument(
        "--only-jobs",
        metavar="LIST",
        help="run only these jobs of the plan, by their number in --dry-run (e.g. 0,3,5-7; 'none': only what every "
        "job shares, the generations and the base model); writes no report",
    )
    study.set_defaults(func=_cmd_study)

    report = sub.add_parser("report", help="the report of a saved study.json again (e.g. one gathered from a cluster)")
    report.add_argument("study", type=Path, help="study.json written by `pcclip study`")
    report.add_argument("--output", type=Path, help="where report.md, report.html and figures/ go (default: beside it)")
    report.add_argument(
        "--readme",
        type=Path,
        help="also copy the report's summary and tables into this markdown file, between its "
        "'<!-- pcclip report: begin ... -->' and '<!-- pcclip report: end -->' lines",
    )
    report.set_defaults(func=_cmd_report)

    cache = sub.add_parser("cache", help="list cached results by stage, code version, size and age; prune stale ones")
    cache.add_argument(
        "action",
        nargs="?",
        choices=("list", "prune"),
        default="list",
        help="prune: delete the results of code versions this code no longer reads",
    )
    cache.add_argument("--cache-dir", type=Path, help="default: $PCCLIP_CACHE or ~/.cache/pcclip")
    cache.set_defaults(func=_cmd_cache)

    models = sub.add_parser("models", help="list model architectures")
    models.set_defaults(func=_cmd_models)

    from .inference_cli import _add_model_options

    evaluate = sub.add_parser("eval", help="compositional benchmarks (SugarCrepe, Winoground, ARO) from local files")
    evaluate.add_argument(
        "--benchmark",
        action="append",
        required=True,
        metavar="NAME:ROOT",
        help="NAME: sugarcrepe, winoground, aro-relation or aro-attribution; ROOT: its folder in the official layout; "
        "sugarcrepe:ROOT:IMAGES also names COCO val2017's folder (default ROOT/val2017) (repeatable)",
    )
    evaluate.add_argument("--output", "-o", type=Path, help="also write the results as JSON")
    _add_model_options(evaluate)
    evaluate.set_defaults(func=_cmd_eval)

    from .generate.cli import register_generate_commands

    register_generate_commands(sub)
    from .inference_cli import register_inference_commands

    register_inference_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
        sys.stdout.flush()  # here, so that a reader gone early is handled below
    except PcclipError as e:
        print(f"pcclip: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pcclip: interrupted; finished stages are cached and a rerun resumes", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (`pcclip models | head -1`): end quietly, as `cat` does. What is left
        # in stdout's buffer goes nowhere, so that Python's own flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe
    except OSError as e:
        if e.filename is None:  # not about a file or folder the user can fix
            raise
        # a folder that is read-only, a directory given for a file, a full disk: one line, no traceback
        print(f"pcclip: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    return 0
