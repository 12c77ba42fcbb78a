"""Pack a trained checkpoint, its LM and tuned decoder into a shipped model folder (``ds2ray pretrained pack``).

:func:`pack_model` writes, into a temporary folder beside ``out`` that replaces ``out`` only when
everything is written and checked:

- ``model.pt``: the checkpoint's model config, features, vocabulary, normaliser and weights, the
  weights as float16 (:func:`ds2ray.model.checkpoint.save_checkpoint` ``weights_dtype``); no
  optimizer state;
- ``lm.bin`` + ``lm.unigrams.txt``: from an ARPA file, KenLM's ``build_binary -a 22 -q 8 -b 8 trie``
  (the seed's quantised trie; pruning happens when the ARPA is built: ``ds2ray lm build --prune``),
  or a KenLM binary copied as is, with its word list;
- ``tuned.json``: alpha, beta and the beam settings of ``ds2ray tune``'s best.json (its ``lm_path``
  dropped: the shipped LM replaces it);
- ``card.json`` (the hand-written card plus model, sizes, LM and tuned facts, and optionally the
  measured results and float16 check) and ``MODEL.md`` rendered from it.

The folder must stay under :data:`~ds2ray.pretrained.MAX_BYTES` (20 MB) or nothing is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ds2ray.decode.tuned import check_tuned, tuned_settings
from ds2ray.pretrained import (CARD_FILE, FILES, LM_FILE, MAX_BYTES, README_FILE, TUNED_FILE, UNIGRAMS_FILE,
                               ShippedModel, is_model_name)
from ds2ray.pretrained.card import EVAL_SETS, CardError, render_model_card, validate_card

log = logging.getLogger(__name__)

#: Utterances the float16 check runs on when it takes them from a manifest.
FP16_CHECK_UTTERANCES = 20


class PackTooLargeError(ValueError):
    """The packed folder would exceed the size limit; the message lists every file's size."""


@dataclass(frozen=True)
class PackResult:
    folder: Path
    sizes: dict[str, int]  # file -> bytes, everything in the folder
    card: dict[str, Any]

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    def summary(self) -> str:
        files = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in self.sizes.items())
        lines = [f"{self.folder}: {self.total_bytes / 1e6:.2f} MB ({files})"]
        fp16 = self.card.get("fp16_check")
        if fp16:
            lines.append(f"float16 vs float32 on {fp16['utterances']} utterances: greedy "
                         f"{'identical' if fp16['greedy_identical'] else 'DIFFERENT'}, max |log-prob diff| "
                         f"{fp16['max_abs_log_prob_diff']:.3g}")
        for name, by in (self.card.get("results") or {}).items():
            rates = ", ".join(f"{d} WER {r['wer']:.3f} CER {r['cer']:.3f}" for d, r in by.items() if isinstance(r, dict))
            lines.append(f"{name}: {rates}")
        return "\n".join(lines)


# --- precision -----------------------------------------------------------------------------------
def compare_precision(reference: str, candidate: str, audios: Sequence[np.ndarray]) -> dict[str, Any]:
    """Run two checkpoints of one model (e.g. float32 and its float16 copy) on ``audios`` (mono
    float32 at the model's rate) and compare: ``greedy_identical`` (every best-path transcript
    equal), ``differing`` (how many transcripts differ), ``max_abs_log_prob_diff`` and
    ``mean_abs_log_prob_diff`` over all frames and classes, and ``max_abs_prob_diff`` (the same on
    probabilities: the largest differences sit at very unlikely classes, log-probs near -20)."""
    from ds2ray.decode.greedy import GreedyDecoder
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.inference.model import load_acoustic_model

    if not audios:
        raise ValueError("compare_precision needs at least one utterance")
    ref_model, cand_model = load_acoustic_model(reference), load_acoustic_model(candidate)
    ref_lp, cand_lp = ref_model.log_probs(list(audios)), cand_model.log_probs(list(audios))
    greedy = GreedyDecoder(ref_model.vocab, DecoderConfig(type="greedy"))
    differing = sum(greedy.decode(a) != greedy.decode(b) for a, b in zip(ref_lp, cand_lp))
    diffs = [np.abs(a - b) for a, b in zip(ref_lp, cand_lp) if a.size]
    return {"utterances": len(audios), "greedy_identical": differing == 0, "differing": differing,
            "max_abs_log_prob_diff": float(max((d.max() for d in diffs), default=0.0)),
            "mean_abs_log_prob_diff": float(np.mean(np.concatenate([d.ravel() for d in diffs]))) if diffs else 0.0,
            "max_abs_prob_diff": float(max((np.abs(np.exp(a) - np.exp(b)).max() for a, b in zip(ref_lp, cand_lp)
                                            if a.size), default=0.0))}


# --- measuring -----------------------------------------------------------------------------------
def eval_entries(data_dir: str | Path, name: str) -> list:
    """The utterances of the real set ``name`` (:data:`~ds2ray.pretrained.card.EVAL_SETS`) under ``data_dir``."""
    from ds2ray.data.manifest import read_manifest

    if name not in EVAL_SETS:
        raise ValueError(f"unknown evaluation set {name!r}; choose from {sorted(EVAL_SETS)}")
    spec = EVAL_SETS[name]
    path = Path(data_dir) / spec.manifest
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest of evaluation set {name!r} not found (is {data_dir} the shared "
                                "data folder?)")
    return list(read_manifest(str(path)))[:: spec.step]


def measure_model(folder: str | Path, data_dir: str | Path, sets: Sequence[str],
                  decoders: Sequence[str] = ("greedy", "beam")) -> dict[str, dict[str, Any]]:
    """WER/CER of the model folder on each real set, per decoder: ``{set: {"utterances": n,
    "greedy": {"wer", "cer"}, "beam": {...}}}``. ``beam`` is the folder's default decoder (its LM
    and tuned.json); the acoustic model runs once per set."""
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.evaluate import compute_log_probs, decode_log_probs, score
    from ds2ray.metrics import total
    from ds2ray.model.checkpoint import load_checkpoint

    model = ShippedModel(Path(folder).name, Path(folder))
    vocab = load_checkpoint(str(folder)).vocab
    configs = {"greedy": DecoderConfig(type="greedy"), "beam": model.beam_config()}
    out: dict[str, dict[str, Any]] = {}
    for name in sets:
        entries = eval_entries(data_dir, name)
        log_probs = compute_log_probs(str(folder), entries, num_workers=0, progress=False)
        row: dict[str, Any] = {"utterances": len(entries)}
        for decoder in decoders:
            hyps = decode_log_probs(log_probs, configs[decoder], vocab, num_workers=1, backend="process",
                                    progress=False)
            results = score(entries, hyps, vocab.language)
            row[decoder] = {"wer": round(total(r.word for r in results).rate, 4),
                            "cer": round(total(r.char for r in results).rate, 4)}
        log.info("%s: %s", name, row)
        out[name] = row
    return out


# --- packing -------------------------------------------------------------------------------------
def _read_json(source: str | Path | Mapping[str, Any], what: str) -> dict[str, Any]:
    from ds2ray.config import read_json_object

    return dict(source) if isinstance(source, Mapping) else read_json_object(source, what)


def shipped_tuned(tuned: Mapping[str, Any]) -> dict[str, Any]:
    """tuned.json for a shipped model: alpha/beta and beam settings, no paths of the machine it was tuned on."""
    keep = tuned_settings(check_tuned(dict(tuned), "the tuned decoder"), paths=False)
    context = {k: tuned[k] for k in ("error_rate_type", "error_rate", "wer", "cer", "num_utterances", "grid")
               if k in tuned}
    return {**keep, **context}


def _write_lm(lm: str, unigrams: str | None, folder: Path, tmp: Path) -> dict[str, Any]:
    """lm.bin + lm.unigrams.txt in ``folder``; returns facts for the card."""
    from ds2ray.lm.build import LMBuildConfig, arpa_ngram_counts, binary_model_type, run_build_binary
    from ds2ray.lm.load import lm_format, read_arpa_unigrams, read_unigrams_file, resolve_unigrams, write_unigrams

    fmt = lm_format(lm)
    if fmt == "arpa":
        words = read_unigrams_file(unigrams) if unigrams else read_arpa_unigrams(lm)
        run_build_binary(Path(lm), folder / LM_FILE, LMBuildConfig(binary_type="trie"), tmp)
        counts = arpa_ngram_counts(Path(lm))
        facts: dict[str, Any] = {"format": "quantised trie (build_binary -a 22 -q 8 -b 8 trie)",
                                 "ngrams": list(counts), "order": len(counts)}
    else:
        words, _ = resolve_unigrams(lm, fmt, unigrams)
        shutil.copyfile(lm, folder / LM_FILE)
        kind = binary_model_type(lm)
        facts = {"format": f"{kind.replace('_', ' ')} binary (copied as given)"}
        if kind != "quant_array_trie":
            log.warning("%s is a KenLM %s binary, copied as is: give the ARPA file to have pack build the seed's "
                        "quantised trie (-a 22 -q 8 -b 8 trie), usually several times smaller", lm, kind)
    write_unigrams(folder / UNIGRAMS_FILE, words)
    facts["unigrams"] = len(words)
    return facts


def _model_facts(data) -> dict[str, Any]:
    from ds2ray.model.deepspeech2 import DeepSpeech2

    mc, fc = data.model_config, data.feature_config
    params = sum(p.numel() for p in DeepSpeech2(mc).parameters())
    convs = " / ".join(f"{k[0]}x{k[1]}" for k in mc.conv_kernels)
    arch = (f"DeepSpeech2: {len(mc.conv_kernels)} 2-D convs ({convs}), {mc.rnn_layers} x bidirectional "
            f"{mc.rnn_type.upper()} {mc.rnn_hidden}, CTC")
    return {"architecture": arch, "parameters": params,
            "features": f"{fc.kind} {fc.num_features} at {fc.sample_rate} Hz",
            "vocabulary": f"{data.vocab.size} classes ({data.vocab.language}, blank = 0)",
            "weights": "float16 (computed in float32)",
            "model_config": mc.to_dict()}


def _size_error(sizes: Mapping[str, int], max_bytes: int) -> str:
    listing = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]))
    total = sum(sizes.values())
    return (f"the packed model is {total / 1e6:.2f} MB, over the {max_bytes / 1e6:.0f} MB limit by "
            f"{(total - max_bytes) / 1e6:.2f} MB ({listing}). Shrink the LM: rebuild its ARPA with more pruning "
            "and fewer words (`ds2ray lm build --prune \"0 1 1 2\" --top-n 100000 --out lm.arpa`), or a lower "
            "--order; or ship a smaller acoustic model. Nothing was written.")


def pack_model(checkpoint: str, out: str | Path, *, card: str | Path | Mapping[str, Any],
               lm: str | None = None, tuned: str | Path | Mapping[str, Any] | None = None,
               unigrams: str | None = None, measure_data: str | Path | None = None,
               measure_sets: Sequence[str] = ("pocketsphinx", "speechbrain"),
               check_manifest: str | None = None, max_bytes: int = MAX_BYTES) -> PackResult:
    """Write the shipped model folder ``out`` (see the module docstring); returns what was written.

    ``checkpoint``: a trained checkpoint (folder, model.pt or URL). ``lm``: an ARPA file (built into
    a quantised trie) or a KenLM binary; ``unigrams``: its word list when it is a binary without the
    ``.unigrams.txt`` sidecar. ``tuned``: best.json of ``ds2ray tune`` (path or dict). ``card``:
    card.json (path or dict; see :mod:`ds2ray.pretrained.card`). ``measure_data``: the shared real-speech
    folder: the packed model (float16 weights, trie LM) is measured on ``measure_sets`` with greedy
    and its default beam decoder, and the numbers replace ``results`` of the card. ``check_manifest``:
    float16 outputs are compared with float32 on its first utterances (default with ``measure_data``:
    the first measured set). Raises :class:`PackTooLargeError` past ``max_bytes``.
    """
    import torch

    from ds2ray.data.audio import load_audio
    from ds2ray.model.checkpoint import load_checkpoint, save_checkpoint
    from ds2ray.model.deepspeech2 import DeepSpeech2

    out = Path(out)
    name = out.name
    if not is_model_name(name):
        raise ValueError(f"--out {out}: the folder name is the model's name and must look like 'en' "
                         "(lower-case letters, digits, '-', '_')")
    if out.exists():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in FILES) if out.is_dir() else [out.name]
        if foreign:
            raise ValueError(f"--out {out} holds {', '.join(foreign[:5])}, which a model folder never does; "
                             "give an empty or new folder, or a previously packed model to replace")
    card_data = validate_card(_read_json(card, "--card"), need_results=measure_data is None)
    tuned_data = shipped_tuned(_read_json(tuned, "--tuned")) if tuned is not None else None
    if tuned_data is not None and lm is None:
        raise ValueError("--tuned without --lm: alpha and beta weigh an LM; give the LM they were tuned with")
    for set_name in measure_sets if measure_data is not None else ():
        if set_name not in EVAL_SETS:
            raise ValueError(f"--measure-sets: unknown set {set_name!r}; choose from {sorted(EVAL_SETS)}")
    data = load_checkpoint(checkpoint)
    model = DeepSpeech2(data.model_config)
    model.load_state_dict(data.model_state)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{name}.packing."))
    try:
        folder = work / name
        folder.mkdir()
        save_checkpoint(str(folder), model, model_config=data.model_config, feature_config=data.feature_config,
                        vocab=data.vocab, normalizer=data.normalizer, train_config=data.train_config,
                        metrics=data.metrics, weights_dtype=torch.float16)
        lm_facts = _write_lm(lm, unigrams, folder, work) if lm is not None else {}
        if lm is not None:
            from ds2ray.decode.base import DecoderConfig
            from ds2ray.decode.beam import validate_lm_for_vocab

            validate_lm_for_vocab(DecoderConfig(type="beam", lm_path=str(folder / LM_FILE)), data.vocab)
        if tuned_data is not None:
            (folder / TUNED_FILE).write_text(json.dumps(tuned_data, indent=2) + "\n", encoding="utf-8")
        payload = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
        if sum(payload.values()) > max_bytes:  # before the slow checks
            raise PackTooLargeError(_size_error(payload, max_bytes))

        card_out = dict(card_data)
        card_out["name"] = name
        card_out["model"] = _model_facts(data)
        card_out["lm"] = {**(card_data.get("lm") or {}), **lm_facts}
        if tuned_data is not None:
            card_out["tuned"] = {k: tuned_data[k] for k in ("alpha", "beta", "beam_width") if k in tuned_data}
        check_entries = []
        if check_manifest:
            from ds2ray.data.manifest import read_manifest

            check_entries = list(read_manifest(check_manifest))[:FP16_CHECK_UTTERANCES]
        elif measure_data is not None and measure_sets:
            check_entries = eval_entries(measure_data, measure_sets[0])[:FP16_CHECK_UTTERANCES]
        if check_entries:
            rate = data.feature_config.sample_rate
            audios = [load_audio(e.audio_filepath, rate, offset=e.offset or 0.0,
                                 duration=e.duration if e.offset else None) for e in check_entries]
            card_out["fp16_check"] = compare_precision(checkpoint, str(folder), audios)
        if measure_data is not None:
            card_out["results"] = {**(card_data.get("results") or {}),
                                   **measure_model(folder, measure_data, measure_sets,
                                                   ("greedy", "beam") if lm is not None else ("greedy",))}
        card_out["max_bytes"] = max_bytes
        card_out["sizes"] = dict(payload)
        for _ in range(2):  # the sizes in the card include the card and MODEL.md themselves
            text = json.dumps(card_out, indent=2) + "\n"
            readme = render_model_card(card_out)
            card_out["sizes"] = {**payload, CARD_FILE: len(text.encode()), README_FILE: len(readme.encode())}
            card_out["sizes"]["total"] = sum(v for k, v in card_out["sizes"].items() if k != "total")
        text = json.dumps(card_out, indent=2) + "\n"
        (folder / CARD_FILE).write_text(text, encoding="utf-8")
        (folder / README_FILE).write_text(render_model_card(card_out), encoding="utf-8")
        sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
        if sum(sizes.values()) > max_bytes:
            raise PackTooLargeError(_size_error(sizes, max_bytes))
        for path in folder.iterdir():
            os.chmod(path, 0o644)
        # swap in: the old folder (if any) moves aside, the new one takes its name, the old one goes
        old = work / f"{name}.old"
        if out.exists():
            os.replace(out, old)
        os.replace(folder, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return PackResult(out, sizes, card_out)


__all__ = ["CardError", "PackResult", "PackTooLargeError", "compare_precision", "eval_entries", "measure_model",
           "pack_model", "shipped_tuned"]
