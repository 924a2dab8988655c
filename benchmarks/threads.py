"""Torch thread settings on this machine, measured side by side in one run.

Each setting runs in a fresh subprocess (OpenMP reads OMP_WAIT_POLICY once, at start-up) and times
the hot loops of the embedded default: a base-pretraining step of the small ViT (batch 128), a
PC-CLIP finetuning step of the MiniLM text tower's blocks (batch 64) and MiniLM inference; and a
training step of the tests' nano CLIP, where per-op overhead dominates.

    .venv/bin/python benchmarks/threads.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SETTINGS = [("1 thread", "1", "ACTIVE"), ("2 threads, OMP active", "2", "ACTIVE"), ("2 threads, OMP passive", "2", "PASSIVE")]

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


def main() -> None:
    rows = []
    for label, threads, policy in SETTINGS:
        env = {**os.environ, "OMP_WAIT_POLICY": policy, "HF_HUB_OFFLINE": "1"}
        out = subprocess.run([sys.executable, "-c", WORKER, threads], env=env, capture_output=True, text=True, check=True)
        rows.append((label, json.loads(out.stdout.strip().splitlines()[-1])))
    base = rows[0][1]
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


if __name__ == "__main__":
    main()
