# The stages every recipe runs; sourced by jobs/<recipe>/run.sh with the script's arguments.
# One `python -m jobs.run` call runs them in order (ds2ray.pipeline), re-runnable, skipping work
# that is finished. One stage alone: python -m jobs.<data|train|tune|test|infer> --config ...
#
#   stage 0  prepare   manifests                      ds2ray.pipeline.data.prepare
#   stage 1  mean-std  feature normaliser             ds2ray.pipeline.data.mean_std
#   stage 2  vocab     character vocabulary           ds2ray.pipeline.data.vocab
#   stage 3  lm        n-gram LM of the transcripts   ds2ray.pipeline.data.lm
#   stage 4  train     Ray Train (RAY_ADDRESS or local)  ds2ray.pipeline.train.train
#   stage 5  tune      alpha/beta grid on dev         ds2ray.pipeline.tune.tune
#   stage 6  test      WER/CER per decoder            ds2ray.pipeline.test.test
#   stage 7  infer     a few test samples, ref vs hyp ds2ray.pipeline.infer.infer
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

"$PYTHON" -m jobs.run --config "$config" --stage "$stage" --stop-stage "$stop_stage" \
    ${common[@]+"${common[@]}"} ${data_args[@]+"${data_args[@]}"} ${force[@]+"${force[@]}"}
