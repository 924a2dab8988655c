"""Do float results repeat across kinds of CPU? A fingerprint of this CPU's numerics to compare with
the ones recorded in benchmarks/RESULTS.md from other machines.

A tiny pretraining of the embedded default's base model (1,000 scenes, one epoch, a temporary cache)
runs in a fresh process under each setting of MKL_CBWR (Intel MKL's conditional numerical
reproducibility: which code path its kernels take); the script prints a hash of the trained weights
and the seconds each took. Same hash on two machines: their results agree to the bit under that
setting.

    .venv/bin/python benchmarks/cross_cpu.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

SETTINGS = ("", "AVX2", "AVX512", "COMPATIBLE")  # "": MKL chooses (the default)

_PRETRAIN = """
import hashlib, sys
from pcclip.pipeline import Pipeline, use_threads
from pcclip.study import load_study
study = load_study(None, ["run.pretrain.scenes=1000", "run.pretrain.epochs=1", f"run.cache_dir={sys.argv[1]}"])
use_threads(2)
model, _ = Pipeline(study.run, sys.argv[1], log=lambda _: None).base
digest = hashlib.sha256()
for name, tensor in sorted(model.state_dict().items()):
    digest.update(tensor.detach().float().numpy().tobytes())
print(digest.hexdigest()[:16])
"""


def main() -> None:
    from pcclip.provenance import cpu

    print(f"CPU: {cpu()}; 2 torch threads")
    for setting in SETTINGS:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "MKL_CBWR": setting} if setting else {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", _PRETRAIN, cache], env=env, capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - start
        print(f"MKL_CBWR={setting or '(unset)':11s} weights {out.stdout.strip().splitlines()[-1]}  {seconds:.1f} s")


if __name__ == "__main__":
    main()
