#!/usr/bin/env bash
# The one prepared script for a GPU session (H100 / H200, ~6 of its 15 minutes):
#   1. benchmarks/gpu_vs_open_clip.py: ViT-B-32, batch 256, bf16, pcclip's train_loop (eager and
#      compiled) against open_clip_train (eager and --torchcompile), in one run on the same card;
#   2. the GPU test of `pcclip finetune --device cuda` (a tiny finetune on the GPU follows the CPU's).
#
# Before the session, here (fetches the wheels the GPU machine lacks into .whl/, ignored by git):
#     bash benchmarks/gpu_session.sh fetch
# Then through the device tool, from the repository root: command `bash benchmarks/gpu_session.sh`,
# carry [".whl"], timeout_s 540. Output: $OUT/benchmark.txt and $OUT/gpu_test.txt.
set -uo pipefail

WHEELS=(
    open-clip-torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4 webdataset==1.0.2 braceexpand==0.1.7  # open_clip_train
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5  # pcclip's settings
    typing-extensions==4.16.0
)

if [[ "${1:-}" == fetch ]]; then
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}" || exit
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
    exit 0
fi

OUT=${OUT:-runs/gpu-session}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, open_clip; print('torch', torch.__version__, '| open_clip', open_clip.__version__)"

# ~4-5 min: two open_clip_train runs, then pcclip's two loops (each compilation takes ~1-2 min).
timeout 420 python3 benchmarks/gpu_vs_open_clip.py --open-clip-compile --open-clip-timeout 180 2>&1 | tee "$OUT/benchmark.txt"
echo "benchmark exit: ${PIPESTATUS[0]}"

timeout 90 python3 -m pytest -q -x -p no:cacheprovider tests/test_finetune_cli.py -k gpu_follows 2>&1 | tee "$OUT/gpu_test.txt"
echo "gpu test exit: ${PIPESTATUS[0]}"
