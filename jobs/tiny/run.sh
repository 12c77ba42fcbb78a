#!/usr/bin/env bash
# tiny: a 60-utterance synthetic corpus (espeak-ng voices; dev/test voices unseen in training) and
# the test-sized model. Runs end to end in about a minute on 2 cores: the smoke test of the recipe
# machinery and of `ray job submit` (tests/jobs, tests/cluster).
#
# Usage: jobs/tiny/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# On a Ray cluster: ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- bash jobs/tiny/run.sh ...
# Settings: jobs/tiny/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
