"""Torch thread settings on this machine, idle and beside one busy process, side by side in one run.

Each setting runs in a fresh subprocess (OpenMP reads its environment once, at start-up) and times
the hot loops of the embedded default: a base-pretraining step of the small ViT (batch 128), a
PC-CLIP finetuning step of the MiniLM text tower's blocks (batch 64) and MiniLM inference; and a
training step of the tests' nano CLIP, where per-op overhead dominates. Then again with a neighbour
that keeps one core busy (`busy_neighbour.NEIGHBOUR`, nice 19): the slowdown each setting suffers.

    .venv/bin/python benchmarks/threads.py [--no-neighbour]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from busy_neighbour import busy_neighbour

# (label, torch threads, OMP_WAIT_POLICY: None leaves it unset, libgomp's default: spin a while, then sleep)
SETTINGS = [
    ("1 thread", "1", None),
    ("2 threads, OMP default", "2", None),
    ("2 threads, OMP active", "2", "ACTIVE"),
    ("2 threads, OMP passive", "2", "PASSIVE"),
]

WORKER = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from pcclip.models import create_model
from pcclip.finetune import select_trainable
from pcclip.encode import tokenize
model, tok = create_model("pcclip-vit-t8-minilm")
ids = tokenize(model, tok, [f"there are {i % 4 + 1} large red stars on the left of picture {i}" for i in range(256)])
def timed(fn, reps):
    fn(); start = time.perf_counter()
    for _ in range(reps): fn()
    return (time.perf_counter() - start) / reps
result = {}
images = torch.randn(128, 3, 64, 64)
opt = torch.optim.AdamW(model.visual.parameters(), 1e-3)
def vit_step():
    model.encode_image(images).sum().backward(); opt.step(); opt.zero_grad()
result["vit_step_s"] = timed(vit_step, 5)
def text_infer():
    with torch.no_grad(): model.encode_text(ids)
result["text_infer_per_s"] = 256 / timed(text_infer, 2)
select_trainable(model, "text-blocks")
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-5)
def text_step():
    model.encode_text(ids[:64]).sum().backward(); opt.step(); opt.zero_grad()
result["text_step_s"] = timed(text_step, 3)
nano, nano_tok = create_model("pcclip-vit-nano")
nano_images, nano_ids = torch.randn(32, 3, 32, 32), nano_tok(["a red star"] * 32)
opt = torch.optim.AdamW(nano.parameters(), 1e-3)
def nano_step():
    (nano.encode_image(nano_images).sum() + nano.encode_text(nano_ids).sum()).backward(); opt.step(); opt.zero_grad()
result["nano_step_s"] = timed(nano_step, 20)
print(json.dumps(result))
"""


def measure(threads: str, policy: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"HF_HUB_OFFLINE": "1"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", WORKER, threads], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(title: str, rows: list[tuple[str, dict[str, float]]], base: dict[str, float]) -> None:
    """Seconds per step (or texts/s) and, in parentheses, the speed relative to `base`."""
    print(f"\n{title}")
    print(
        f"{'setting':26s} {'ViT step b128':>18s} {'MiniLM blocks step b64':>23s} "
        f"{'MiniLM encode':>17s} {'nano CLIP step b32':>20s}"
    )
    for label, r in rows:
        print(
            f"{label:26s} {r['vit_step_s']:10.3f} s ({base['vit_step_s'] / r['vit_step_s']:.2f}x)"
            f" {r['text_step_s']:15.3f} s ({base['text_step_s'] / r['text_step_s']:.2f}x)"
            f" {r['text_infer_per_s']:9.0f}/s ({r['text_infer_per_s'] / base['text_infer_per_s']:.2f}x)"
            f" {1000 * r['nano_step_s']:10.1f} ms ({base['nano_step_s'] / r['nano_step_s']:.2f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-neighbour", action="store_true", help="the idle machine only")
    args = parser.parse_args()
    idle = [(label, measure(threads, policy)) for label, threads, policy in SETTINGS]
    table("idle (speed relative to 1 thread, idle)", idle, idle[0][1])
    if args.no_neighbour:
        return
    with busy_neighbour():
        busy = [(label, measure(threads, policy)) for label, threads, policy in SETTINGS]
    table("beside one busy process (speed relative to 1 thread, idle)", busy, idle[0][1])
    print("\nslowdown beside the busy process (busy time / idle time of the same setting):")
    for (label, i), (_, b) in zip(idle, busy):
        print(
            f"{label:26s} ViT {b['vit_step_s'] / i['vit_step_s']:5.2f}x  "
            f"MiniLM step {b['text_step_s'] / i['text_step_s']:5.2f}x  "
            f"encode {i['text_infer_per_s'] / b['text_infer_per_s']:5.2f}x  nano {b['nano_step_s'] / i['nano_step_s']:5.2f}x"
        )


if __name__ == "__main__":
    main()
