#!/usr/bin/env bash
# Rehearse a GPU session's study calls on this CPU, as the device tool would make them: a fresh copy
# of what the tool sends (the working tree: tracked and untracked-not-ignored files, in a clone), the
# carried folders added call by call, each call run with a clean environment, no network at all
# (`unshare -n`) and a Python that has only what the GPU machine has (no open_clip, pydantic, gguf,
# model packages or pcclip). Run `bash benchmarks/gpu_session.sh pack` first.
#
#     bash benchmarks/gpu_rehearsal.sh VENV [exact|lite]
#
# VENV: a venv like the GPU machine's Python (benchmarks/RESULTS.md "GPU training speed" gives the one
# used: Python 3.12, torch 2.11.0, torchvision 0.26.0, transformers 5.17.0, ...). The study runs with
# tiny sizes (REHEARSAL_ARGS, below) and one thread, so it takes minutes. Output under
# ${REHEARSAL_DIR:-/tmp/gpu-rehearsal}: out-<call>/ as $OUT of each call, and call-<n>.log.
set -uo pipefail
venv=${1:?usage: gpu_rehearsal.sh VENV [exact|lite]}
form=${2:-exact}
venv=$(cd "$venv" && pwd) || exit
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${REHEARSAL_DIR:-/tmp/gpu-rehearsal}
TINY="--set run.threads=1 --set run.seeds=[0] --set table_seeds.encoders=[0] --set table_seeds.quality=[0]
 --set table_seeds.variants=[0] --set run.pretrain.scenes=256 --set run.pretrain.epochs=1 --set run.pretrain.batch_size=64
 --set run.pretrain.warmup_steps=0 --set run.pairs.images=32 --set run.pairs.pairs=24 --set run.finetune.epochs=1
 --set run.finetune.batch_size=8 --set run.eval.pairs_per_attribute=4 --set run.eval.zero_shot_per_class=2
 --set run.eval.caption_scenes=16"
REHEARSAL_ARGS=${REHEARSAL_ARGS:-$(echo $TINY)}

rm -rf "$dir" && mkdir -p "$dir" || exit
git clone -q "$repo" "$dir/repo" || exit
# what the tool sends: the working tree as it is, uncommitted changes included
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -f "{}" && printf "%s\0" "{}"' |
    tar --null -T - -cf -) | tar -xf - -C "$dir/repo" || exit

call() {  # call N MODE CARRIED...: copy the carried folders in, then run the mode as the tool would
    local n=$1 mode=$2
    shift 2
    for path in "$@"; do cp -r "$repo/$path" "$dir/repo/" || exit; done
    echo "== call $n: bash benchmarks/gpu_session.sh $mode, carry [$*]"
    (cd "$dir/repo" && unshare -n env -i HOME="$dir/home" PATH="$venv/bin:/usr/bin:/bin" GPU_SESSION_WORK="$dir/work" \
        OUT="$dir/out-$n" OMP_NUM_THREADS=1 STUDY_TIMEOUT="${STUDY_TIMEOUT:-1200}" STUDY_ARGS="$REHEARSAL_ARGS" \
        nice -n 19 bash benchmarks/gpu_session.sh "$mode") 2>&1 | tee "$dir/call-$n.log"
    return "${PIPESTATUS[0]}"
}

if [[ $form == lite ]]; then
    call 1 study-lite .whl .models-lite
    exit
fi
parts=$(cd "$repo" && find . -maxdepth 1 -name '.models-[0-9]*' | wc -l)
((parts > 0)) || { echo "no .models-N here: run bash benchmarks/gpu_session.sh pack" >&2; exit 1; }
for ((i = 1; i < parts; i++)); do
    if ((i == 1)); then call 1 receive .whl .models-1 || exit; else call "$i" receive ".models-$i" || exit; fi
done
if ((parts == 1)); then call 1 study .whl .models-1; else call "$parts" study ".models-$parts"; fi
