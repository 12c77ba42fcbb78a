# The stages every recipe runs; sourced by jobs/<recipe>/run.sh with the script's arguments.
# Each stage is one `python -m jobs.<stage>` call, re-runnable, skipping work that is finished.
#
#   stage 0  prepare   manifests                      python -m jobs.data --step prepare
#   stage 1  mean-std  feature normaliser             python -m jobs.data --step mean-std
#   stage 2  vocab     character vocabulary           python -m jobs.data --step vocab
#   stage 3  lm        n-gram LM of the transcripts   python -m jobs.data --step lm
#   stage 4  train     Ray Train (RAY_ADDRESS or local)  python -m jobs.train
#   stage 5  tune      alpha/beta grid on dev         python -m jobs.tune
#   stage 6  test      WER/CER per decoder            python -m jobs.test
#   stage 7  infer     a few test samples, ref vs hyp python -m jobs.infer
#
# Options: --stage N --stop-stage M (default 0..7, icefall style), --exp-dir DIR (default
# exp/<recipe>), --data DIR (corpus location, stage 0), --set SECTION.FIELD=VALUE (repeatable,
# overrides config.yaml), --force (redo stages whose output exists). PYTHON picks the interpreter
# (default: the repository's .venv, else python on PATH).
set -euo pipefail

recipe_script="${BASH_SOURCE[1]}"
stages_script="${BASH_SOURCE[0]}"
recipe_dir="$(cd "$(dirname "$recipe_script")" && pwd)"
repo="$(cd "$recipe_dir/../.." && pwd)"
config="$recipe_dir/config.yaml"
stage=0
stop_stage=7
common=()
data_args=()
force=()

usage() {
    sed -n '2,/^set -euo/p' "$recipe_script" | sed '$d; s/^# \{0,1\}//'
    echo
    sed -n '1,/^set -euo/p' "$stages_script" | sed '$d; s/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --stage) stage="$2"; shift 2 ;;
        --stop-stage) stop_stage="$2"; shift 2 ;;
        --exp-dir) common+=(--exp-dir "$2"); shift 2 ;;
        --set) common+=(--set "$2"); shift 2 ;;
        --data) data_args=(--data "$2"); shift 2 ;;
        --force) force=(--force); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$(basename "$recipe_dir")/run.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
    esac
done
[[ "$stage" =~ ^[0-7]$ && "$stop_stage" =~ ^[0-7]$ ]] || { echo "--stage/--stop-stage take 0..7" >&2; exit 2; }

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python; fi
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"  # `-m jobs.*` from any working directory

run() {  # run N NAME MODULE ARGS...
    local n="$1" name="$2" module="$3"; shift 3
    if (( stage <= n && n <= stop_stage )); then
        echo "[$(date +%H:%M:%S)] $(basename "$recipe_dir") stage $n: $name"
        "$PYTHON" -m "$module" --config "$config" ${common[@]+"${common[@]}"} "$@"
    fi
}

run 0 prepare  jobs.data  --step prepare ${data_args[@]+"${data_args[@]}"} ${force[@]+"${force[@]}"}
run 1 mean-std jobs.data  --step mean-std ${force[@]+"${force[@]}"}
run 2 vocab    jobs.data  --step vocab ${force[@]+"${force[@]}"}
run 3 lm       jobs.data  --step lm ${force[@]+"${force[@]}"}
run 4 train    jobs.train ${force[@]+"${force[@]}"}
run 5 tune     jobs.tune  ${force[@]+"${force[@]}"}
run 6 test     jobs.test  ${force[@]+"${force[@]}"}
run 7 infer    jobs.infer
