"""Torch thread settings on this machine, measured side by side in one run.

Each setting runs in a fresh subprocess (OpenMP reads OMP_WAIT_POLICY once, at start-up) and times
the two hot loops of the embedded default: a base-pretraining step of the small ViT (batch 128) and a
PC-CLIP finetuning step of the MiniLM text tower's blocks (batch 64), plus MiniLM inference.

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
texts = [f"there are {i % 4 + 1} large red stars on the left of picture {i}" for i in range(256)]
ids = tokenize(tok, texts)
def timed(fn, reps):
    fn(); start = time.perf_counter()
    for _ in range(reps): fn()
    return (time.perf_counter() - start) / reps
images = torch.randn(128, 3, 64, 64)
opt = torch.optim.AdamW(model.visual.parameters(), 1e-3)
def vit_step():
    model.encode_image(images).sum().backward(); opt.step(); opt.zero_grad()
select_trainable(model, "text-blocks")
opt2 = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-5)
def text_step():
    model.encode_text(ids[:64]).sum().backward(); opt2.step(); opt2.zero_grad()
def text_infer():
    with torch.no_grad(): model.encode_text(ids)
print(json.dumps({"vit_step_s": timed(vit_step, 5), "text_step_s": timed(text_step, 3), "text_infer_per_s": 256 / timed(text_infer, 2)}))
"""


def main() -> None:
    rows = []
    for label, threads, policy in SETTINGS:
        env = {**os.environ, "OMP_WAIT_POLICY": policy, "HF_HUB_OFFLINE": "1"}
        out = subprocess.run([sys.executable, "-c", WORKER, threads], env=env, capture_output=True, text=True, check=True)
        rows.append((label, json.loads(out.stdout.strip().splitlines()[-1])))
    base = rows[0][1]
    print(f"{'setting':26s} {'ViT step b128':>14s} {'MiniLM blocks step b64':>23s} {'MiniLM encode':>15s}")
    for label, r in rows:
        print(f"{label:26s} {r['vit_step_s']:10.3f} s ({base['vit_step_s'] / r['vit_step_s']:.2f}x)"
              f" {r['text_step_s']:15.3f} s ({base['text_step_s'] / r['text_step_s']:.2f}x)"
              f" {r['text_infer_per_s']:9.0f}/s ({r['text_infer_per_s'] / base['text_infer_per_s']:.2f}x)")


if __name__ == "__main__":
    main()
