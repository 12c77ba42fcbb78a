#!/usr/bin/env bash
# demo: what `make demo` trains (python -m jobs.demo runs these stages, then serve and shipped): 2 h of
# espeak-ng speech with held-out voices, the demo model for 9 minutes on 2 workers, a 3-gram LM.
#
# Usage: jobs/demo/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# Settings: jobs/demo/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
