"""CLIP training speed on one GPU: pcclip's train_loop (eager and torch.compile) against open_clip's
own training loop (`python -m open_clip_train.main`), measured side by side in one run.

Both loops do the same step: a standard CLIP contrastive step (open_clip's ClipLoss, both towers
training, logit scale clamped after the update) on a batch of synthetic images and 77-token texts,
bf16 autocast, AdamW, from random initial weights. pcclip's loops run first (each result is printed
as it comes, so a run cut short keeps them), then open_clip_train as a subprocess while this process
sits idle. open_clip's samples/s is the median of its own "Train Epoch" log lines after warm-up;
pcclip's is wall-clock time over the timed steps, the GPU synchronised at both ends. pcclip's data is
a pool of 2 x batch synthetic samples already on the GPU (index batches copied asynchronously);
open_clip_train reads its synthetic set through its DataLoader (workers, pinned memory).

FLOPs per sample are counted by torch's FlopCounterMode on one forward + backward (matrix products,
convolutions and attention; element-wise work not counted); MFU = achieved FLOP/s / --peak-tflops.

    python benchmarks/gpu_vs_open_clip.py                      # on the GPU: see benchmarks/gpu_session.sh
    python benchmarks/gpu_vs_open_clip.py --device cpu --model pcclip-vit-nano --batch-size 8 \\
        --steps 3 --warmup-steps 1 --modes eager --skip-open-clip     # CPU smoke run
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from open_clip.loss import ClipLoss
from torch.utils.flop_counter import FlopCounterMode

from pcclip.config import OptimSettings
from pcclip.encode import image_size
from pcclip.models import create_model
from pcclip.optim import autocast, epoch_batches, train_loop

MODES = {"eager": False, "compiled": True}
OPEN_CLIP_LOG_EVERY = 5  # steps between open_clip's log lines, each one a samples/s reading
# open_clip_train's line: "Train Epoch: 0 [  2560/25600 (10%)] Data (t): 0.001 Batch (t): 0.064, 4000.12/s, ..."
OPEN_CLIP_LINE = re.compile(r"Train Epoch: \d+ \[\s*(\d+)/\s*\d+ \(\d+%\)\].*?Batch \(t\): [\d.]+, ([\d.]+)/s,")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Workload:
    """A fresh model, a pool of synthetic samples on its device, and the CLIP loss of an index batch."""

    def __init__(self, args: argparse.Namespace):
        self.device = torch.device(args.device)
        torch.manual_seed(0)
        self.model, tokenizer = create_model(args.model, device=self.device)
        self.model.train()
        self.pool, size = 2 * args.batch_size, image_size(self.model)
        self.images = torch.randn(self.pool, 3, size, size, device=self.device)
        self.texts = tokenizer(["Dummy caption"] * self.pool).to(self.device)  # open_clip's synthetic caption
        self.clip_loss = ClipLoss()
        self.batch_size = args.batch_size

    def loss(self, index: torch.Tensor) -> torch.Tensor:
        image_features, text_features, logit_scale = self.model(self.images[index], self.texts[index])
        return self.clip_loss(image_features, text_features, logit_scale)

    def batches(self, n_items: int):
        """train_loop's batches(start): index batches over n_items wrapped onto the pool, moved to the
        GPU without waiting for it."""

        def on_device(start: int):
            for index in epoch_batches(n_items, self.batch_size, 1, seed=0, start_step=start):
                index = index % self.pool
                yield index.pin_memory().to(self.device, non_blocking=True) if self.device.type == "cuda" else index

        return on_device

    def clamp_logit_scale(self) -> None:
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, math.log(100))  # as open_clip_train does after each update


def optim_settings(args: argparse.Namespace, compiled: bool) -> OptimSettings:
    # open_clip_train's defaults (lr 5e-4, weight decay 0.2, no clipping); the schedule costs nothing.
    return OptimSettings(
        epochs=1,
        batch_size=args.batch_size,
        lr=5e-4,
        weight_decay=0.2,
        warmup_steps=args.warmup_steps,
        grad_clip=0,
        precision="bf16",
        compile=compiled,
    )


def flops_per_sample(args: argparse.Namespace) -> float:
    work = Workload(args)
    index = torch.arange(args.batch_size, device=work.device)
    with FlopCounterMode(display=False) as counter:
        with autocast(optim_settings(args, False), work.device):
            loss = work.loss(index)
        loss.backward()
    return counter.get_total_flops() / args.batch_size


def pcclip_samples_per_s(args: argparse.Namespace, compiled: bool) -> float:
    elapsed = timed_pcclip_steps(args, compiled)  # its workload is freed on return, before the cache is emptied
    torch._dynamo.reset()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return args.batch_size * args.steps / elapsed


def timed_pcclip_steps(args: argparse.Namespace, compiled: bool) -> float:
    """Seconds of the timed steps (after warm-up) of pcclip's train_loop on a fresh workload."""
    work = Workload(args)
    n_items = args.batch_size * (args.warmup_steps + args.steps)
    started = {}

    def after_step(step: int) -> None:
        work.clamp_logit_scale()
        if step == args.warmup_steps - 1:  # warm-up (compilation included) ends here
            synchronize(work.device)
            started["time"] = time.perf_counter()

    train_loop(
        work.model,
        work.batches(n_items),
        work.loss,
        optim_settings(args, compiled),
        n_items=n_items,
        desc=f"pcclip {'compiled' if compiled else 'eager'}",
        after_step=after_step,
    )
    synchronize(work.device)
    return time.perf_counter() - started["time"]


def open_clip_samples_per_s(args: argparse.Namespace, compiled: bool) -> float | None:
    """open_clip_train's own reading: median samples/s of its log lines after warm-up (None: failed)."""
    steps = args.warmup_steps + args.steps
    with tempfile.TemporaryDirectory() as logs:
        command = [
            sys.executable,
            "-m",
            "open_clip_train.main",
            "--model",
            args.model,
            "--dataset-type",
            "synthetic",
            "--train-num-samples",
            str(steps * args.batch_size),
            "--batch-size",
            str(args.batch_size),
            "--precision",
            "amp_bf16",
            "--workers",
            str(args.workers),
            "--epochs",
            "1",
            "--lr",
            "5e-4",
            "--wd",
            "0.2",
            "--warmup",
            str(args.warmup_steps),
            "--save-frequency",
            "0",
            "--report-to",
            "",
            "--log-every-n-steps",
            str(OPEN_CLIP_LOG_EVERY),
            "--logs",
            logs,
            "--name",
            "benchmark",
            "--seed",
            "0",
            *(["--torchcompile"] if compiled else []),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=args.open_clip_timeout)
    output = result.stdout + result.stderr
    readings = [
        float(rate) for samples, rate in OPEN_CLIP_LINE.findall(output) if int(samples) // args.batch_size > args.warmup_steps
    ]
    if result.returncode != 0 or not readings:
        print(f"open_clip_train failed (exit {result.returncode}, {len(readings)} readings); its last lines:\n{output[-3000:]}")
        return None
    print(
        f"  open_clip_train{' --torchcompile' if compiled else ''}: "
        f"samples/s after warm-up {', '.join(f'{r:.0f}' for r in readings)}"
    )
    return statistics.median(readings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture (pcclip's own too, for pcclip's loop)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50, help="timed steps, after the warm-up")
    parser.add_argument("--warmup-steps", type=int, default=15, help="untimed first steps (compilation happens here)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--modes", default="eager,compiled", help="pcclip loops to time: eager, compiled or both")
    parser.add_argument("--skip-open-clip", action="store_true", help="time pcclip's loop only")
    parser.add_argument("--open-clip-compile", action="store_true", help="also time open_clip_train --torchcompile")
    parser.add_argument("--workers", type=int, default=14, help="open_clip_train's data loader workers")
    parser.add_argument("--open-clip-timeout", type=int, default=300, help="seconds allowed per open_clip_train run")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak (H100/H200 SXM: 989)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",")]
    if args.warmup_steps < 1 or args.steps < 1 or set(modes) - set(MODES):
        parser.error(f"--warmup-steps and --steps must be >= 1; --modes takes {', '.join(MODES)}")

    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"{args.model}, batch {args.batch_size}, bf16 autocast, AdamW, random init; {args.warmup_steps} warm-up + "
        f"{args.steps} timed steps; {name}, torch {torch.__version__}"
    )
    flops = flops_per_sample(args)
    print(f"FLOPs per sample, forward + backward (FlopCounterMode): {flops / 1e9:.4g} GFLOP")
    rates: dict[str, float | None] = {}
    for mode in modes:
        loop = f"pcclip train_loop, {mode}"
        rates[loop] = pcclip_samples_per_s(args, MODES[mode])
        print(f"  {loop}: {rates[loop]:.0f} samples/s")
    if not args.skip_open_clip:
        rates["open_clip_train"] = open_clip_samples_per_s(args, compiled=False)
        if args.open_clip_compile:
            rates["open_clip_train --torchcompile"] = open_clip_samples_per_s(args, compiled=True)

    reference = rates.get("open_clip_train")
    print(f"\n{'loop':34s} {'samples/s':>10s} {'vs open_clip':>13s} {'TFLOP/s':>9s} {f'MFU (peak {args.peak_tflops:g})':>16s}")
    for loop, rate in rates.items():
        if rate is None:
            print(f"{loop:34s} {'failed':>10s}")
            continue
        ratio = f"{rate / reference:.2f}x" if reference else "-"
        tflops = rate * flops / 1e12
        print(f"{loop:34s} {rate:10,.0f} {ratio:>13s} {tflops:9.3g} {tflops / args.peak_tflops:16.1%}")
    if any(rate is None for rate in rates.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
