#!/usr/bin/env bash
# english: every English speech source this machine reaches with nothing downloaded at run time.
# Train: speechocean762's training half (2,500 read sentences, non-native speakers), FSDD (3,000
# digits), speech_commands (300 words), all from ../shared/data (or --data DIR), plus synthetic speech
# (data.options.synth_hours, default 12 h) from every free English voice of espeak-ng, flite, festival and piper,
# an equal share per engine, reading sentences of WordNet, GCIDE, the World English Bible, fortunes and
# ds2ray's own list. Dev: speechocean762's test half minus the test subset (2,000 utterances). Test
# (each scored on its own): speechocean762 test lines 1, 6, 11, ... (500), an4, pocketsphinx,
# speechbrain, alsa_sounds. Every dev and test sentence is removed from the TTS text and the LM corpus.
# Splits, hours per source and per TTS engine: <exp>/data/english.json; text counts: <exp>/data/text.json.
#
# The shipped model (`--checkpoint en`, ds2ray/pretrained/en) comes from this recipe. Training starts
# from it (train.init_from: en, a fresh schedule), so every session's CPU-hours add up. After the test
# stage, `python -m jobs.ship --config jobs/english/config.yaml` replaces it only if the new model's
# real-speech dev WER (beam + LM) is lower, and rewrites its card (MODEL.md) with cumulative hours.
#
# Usage: jobs/english/run.sh [--stage N] [--stop-stage M] [--exp-dir DIR] [--data DIR] [--set S.F=V]... [--force]
# On a Ray cluster: ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- bash jobs/english/run.sh ...
# Settings: jobs/english/config.yaml. Stages and options: jobs/stages.sh (or --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../stages.sh" "$@"
