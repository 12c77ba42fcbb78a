#!/usr/bin/env bash
# voxforge: VoxForge English (per-session .tgz archives), speaker-disjoint train/dev/test splits,
# with the seed's exact DS2 on 4 GPUs, a 3-gram LM of the training transcripts, tuned alpha/beta;
# WER. Limit the download with --set data.options.max_archives=500.
#
# Usage: jobs/voxforge/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# On a Ray cluster: ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- bash jobs/voxforge/run.sh ...
# Settings: jobs/voxforge/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
