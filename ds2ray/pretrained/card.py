"""The model card of a shipped model: ``card.json`` (the measured numbers) and ``MODEL.md`` rendered from it.

``card.json`` as written by hand (``ds2ray pretrained pack --card``), every number measured::

    {
      "name": "en",                                   # optional; pack sets it from the folder name
      "title": "ds2ray English, small CPU model",     # optional
      "description": "One paragraph: what it is for.",# optional
      "data": [                                       # every training source
        {"source": "LibriSpeech train-clean-100", "hours": 100.6, "licence": "CC BY 4.0",
         "url": "https://www.openslr.org/12"}         # url optional
      ],
      "recipe": "python -m jobs.english.train ...",   # the exact command that trained it
      "training": {"steps": 52000, "cpu_hours": 310.5, "audio_hours_seen": 1240.0,
                   "epochs": 12.3, "wall_hours": 160.2, "hardware": "2 vCPU"},   # last three optional
      "lm": {"source": "LibriSpeech LM text, 200k sentences", "licence": "public domain",
             "order": 4, "prune": "0 1 1 2", "top_n": 100000},              # all optional
      "results": {                                    # real set -> decoder -> rates (or from --measure)
        "pocketsphinx": {"greedy": {"wer": 0.51, "cer": 0.22}, "beam": {"wer": 0.40, "cer": 0.19}}
      },
      "weaknesses": ["Accented speech: ...", "Digits: ..."]
    }

``beam`` means beam search with the shipped LM and tuned alpha/beta (what the model decodes with by
default); ``greedy`` means best path. Set names are those of ``../shared/data`` (:data:`EVAL_SETS`);
pocketsphinx 5.1 and Whisper tiny.en reference WERs (:data:`REFERENCE_WER`, measured on the same
files) are printed beside them. ``pack`` adds ``model`` (architecture, parameters), ``sizes`` (bytes
per file), ``tuned`` (alpha, beta) and, when measured, ``fp16_check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


class CardError(ValueError):
    """card.json lacks a field or holds a wrong type; the message names the field."""


@dataclass(frozen=True)
class EvalSet:
    """A real-speech test set under ``../shared/data``: ``manifest`` relative to that folder, every
    ``step``-th line from the first (speechocean762: lines 1, 6, 11, ...)."""

    manifest: str
    step: int = 1
    description: str = ""


#: The sets the reference WERs below were measured on (``../shared/data/README.md``).
EVAL_SETS: dict[str, EvalSet] = {
    "pocketsphinx": EvalSet("pocketsphinx/manifest.jsonl", 1, "LibriVox read sentences and commands (12)"),
    "speechbrain": EvalSet("speechbrain/manifest.jsonl", 1, "short read sentences (14)"),
    "an4": EvalSet("an4/manifest.jsonl", 1, "CMU AN4 census / alphanumeric (76)"),
    "alsa_sounds": EvalSet("alsa_sounds/manifest.jsonl", 1, "channel names, one speaker (8)"),
    "speech_commands": EvalSet("speech_commands/manifest.jsonl", 1, "single command words (300)"),
    "fsdd": EvalSet("fsdd/manifest_test.jsonl", 1, "spoken digits, 8 kHz, test split (300)"),
    "speechocean762": EvalSet("speechocean762/manifest_test.jsonl", 5,
                              "non-native read sentences, every 5th test line (500)"),
}

#: WER of two existing offline recognisers on :data:`EVAL_SETS` (``../shared/data/README.md``).
REFERENCE_WER: dict[str, dict[str, float]] = {
    "pocketsphinx": {"pocketsphinx": 0.21, "whisper_tiny_en": 0.15},
    "speechbrain": {"pocketsphinx": 0.38, "whisper_tiny_en": 0.17},
    "an4": {"pocketsphinx": 0.43, "whisper_tiny_en": 0.49},
    "alsa_sounds": {"pocketsphinx": 0.44, "whisper_tiny_en": 0.06},
    "speech_commands": {"pocketsphinx": 0.79, "whisper_tiny_en": 0.36},
    "fsdd": {"pocketsphinx": 0.84, "whisper_tiny_en": 0.70},
    "speechocean762": {"pocketsphinx": 0.857, "whisper_tiny_en": 0.384},
}

#: Decoders a card reports, in table order.
DECODERS = ("greedy", "beam")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need(card: Mapping[str, Any], dotted: str, kind: type | tuple, what: str) -> Any:
    value: Any = card
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise CardError(f"card.json: field {dotted!r} is missing; expected {what}")
        value = value[part]
    ok = _is_number(value) if kind is float else isinstance(value, kind)
    if not ok or (isinstance(value, str) and not value.strip()):
        raise CardError(f"card.json: field {dotted!r} must be {what}, got {value!r}")
    return value


def validate_card(card: Mapping[str, Any], *, need_results: bool = True) -> dict[str, Any]:
    """Check the hand-written fields (see the module docstring); returns a plain-dict copy.

    ``need_results=False`` when ``results`` will be measured by ``pack --measure``.
    """
    if not isinstance(card, Mapping):
        raise CardError(f"card.json must hold a JSON object, got {type(card).__name__}")
    sources = _need(card, "data", list, "a list of {source, hours, licence}")
    if not sources:
        raise CardError("card.json: 'data' is empty; list every training source with its hours and licence")
    for i, src in enumerate(sources):
        if not isinstance(src, Mapping):
            raise CardError(f"card.json: data[{i}] must be an object {{source, hours, licence}}, got {src!r}")
        _need(src, "source", str, f"the name of data[{i}]")
        _need(src, "hours", float, f"the hours of data[{i}] (a number)")
        _need(src, "licence", str, f"the licence of data[{i}] (e.g. 'CC BY 4.0')")
    _need(card, "recipe", str, "the exact command that trained the model")
    _need(card, "training", Mapping, "an object with steps, cpu_hours, audio_hours_seen")
    for key in ("steps", "cpu_hours", "audio_hours_seen"):
        _need(card, f"training.{key}", float, "a number")
    weaknesses = _need(card, "weaknesses", list, "a list of known weaknesses (strings)")
    if not all(isinstance(w, str) and w.strip() for w in weaknesses):
        raise CardError("card.json: 'weaknesses' must be a list of non-empty strings")
    results = card.get("results")
    if results is None and need_results:
        raise CardError("card.json: field 'results' is missing; give {set: {greedy|beam: {wer, cer}}} or let "
                        "`ds2ray pretrained pack --measure` fill it")
    if results is not None:
        if not isinstance(results, Mapping) or (need_results and not results):
            raise CardError(f"card.json: 'results' must map set names to decoders, got {results!r}")
        for name, by_decoder in results.items():
            if not isinstance(by_decoder, Mapping) or not by_decoder:
                raise CardError(f"card.json: results[{name!r}] must map decoders (greedy, beam) to {{wer, cer}}")
            for decoder, rates in by_decoder.items():
                if decoder == "utterances":
                    continue
                if decoder not in DECODERS:
                    raise CardError(f"card.json: results[{name!r}] has decoder {decoder!r}; use one of {DECODERS}")
                for key in ("wer", "cer"):
                    _need(rates, key, float, f"results[{name!r}][{decoder!r}].{key} (a number)")
    return _plain(card)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _mb(num_bytes: float) -> str:
    return f"{num_bytes / 1e6:.1f} MB"


def _rate(value: Any) -> str:
    return f"{value:.3f}" if _is_number(value) else "—"


def _num(value: Any, fmt: str = "{:,.1f}") -> str:
    if not _is_number(value):
        return "—"
    return fmt.format(value)


def render_model_card(card: Mapping[str, Any]) -> str:
    """MODEL.md (Markdown) from a packed card (hand-written fields plus what ``pack`` added)."""
    name = card.get("name", "?")
    title = card.get("title") or f"ds2ray shipped model `{name}`"
    out = [f"# {title}", ""]
    if card.get("description"):
        out += [str(card["description"]), ""]
    out += [f"Use it: `ds2ray serve` (the default model), `ds2ray transcribe --local a.wav`, "
            f"`ds2ray test --checkpoint {name} --manifest m.jsonl`. Beam search with the shipped LM and "
            "tuned alpha/beta is the default decoder; `--decoder greedy` turns it off, `--lm`/`--tuned` replace it.",
            ""]

    model = card.get("model") or {}
    if model:
        out += ["## Model", ""]
        if model.get("architecture"):
            out.append(f"- architecture: {model['architecture']}")
        if _is_number(model.get("parameters")):
            out.append(f"- parameters: {model['parameters'] / 1e6:.2f} M")
        if model.get("features"):
            out.append(f"- features: {model['features']}")
        if model.get("vocabulary"):
            out.append(f"- output: {model['vocabulary']}")
        if model.get("weights"):
            out.append(f"- weights: {model['weights']}")
        out.append("")

    out += ["## Training data", "", "| source | hours | licence |", "|---|---|---|"]
    total = 0.0
    for src in card.get("data", []):
        label = f"[{src['source']}]({src['url']})" if src.get("url") else str(src["source"])
        out.append(f"| {label} | {_num(src.get('hours'))} | {src.get('licence', '')} |")
        total += float(src.get("hours") or 0)
    out += [f"| **total** | **{total:,.1f}** | |", ""]

    training = card.get("training") or {}
    out += ["## Training", "", "```", str(card.get("recipe", "")), "```", ""]
    rows = [("steps", _num(training.get("steps"), "{:,.0f}")),
            ("epochs", _num(training.get("epochs"), "{:,.2f}")),
            ("CPU-hours", _num(training.get("cpu_hours"))),
            ("wall-clock hours", _num(training.get("wall_hours"))),
            ("audio-hours seen", _num(training.get("audio_hours_seen"))),
            ("hardware", str(training.get("hardware") or "—"))]
    out += [f"- {k}: {v}" for k, v in rows if v != "—"] + [""]
    dev = card.get("dev") or {}
    if _is_number(dev.get("wer_beam")):  # what `python -m jobs.ship` compares before replacing a model
        before = dev.get("previous_wer_beam")
        out += [f"Dev WER (beam + LM) {dev['wer_beam']:.4f} on {dev.get('set', 'the dev set')}"
                + (f"; the model it replaced: {before:.4f}" if _is_number(before) else "; the first model shipped")
                + ". A new model replaces this one only below it.", ""]

    lm = card.get("lm") or {}
    tuned = card.get("tuned") or {}
    out += ["## Language model and decoder", ""]
    if lm.get("source"):
        out.append(f"- LM text: {lm['source']}" + (f" ({lm['licence']})" if lm.get("licence") else ""))
    details = [f"order {lm['order']}" if lm.get("order") else "",
               f"pruning `{lm['prune']}`" if lm.get("prune") else "",
               f"top {lm['top_n']:,} words" if _is_number(lm.get("top_n")) else "",
               f"{lm['unigrams']:,} unigrams" if _is_number(lm.get("unigrams")) else "",
               lm.get("format", "")]
    details = [d for d in details if d]
    if details:
        out.append("- KenLM: " + ", ".join(details))
    if tuned:
        out.append(f"- beam search: alpha {tuned.get('alpha')}, beta {tuned.get('beta')}"
                   + (f", beam width {tuned['beam_width']}" if tuned.get("beam_width") else "")
                   + (f" (tuned on {tuned['tuned_on']})" if tuned.get("tuned_on") else ""))
    out.append("")

    results = card.get("results") or {}
    if results:
        out += ["## Results", "",
                "Word and character error rates on real recorded speech (`../shared/data`), beside two existing "
                "offline recognisers measured on the same files (WER). `beam` = beam search + the shipped LM + "
                "tuned alpha/beta.", "",
                "| set | greedy WER | greedy CER | beam WER | beam CER | pocketsphinx 5.1 | Whisper tiny.en |",
                "|---|---|---|---|---|---|---|"]
        order = [s for s in EVAL_SETS if s in results] + sorted(s for s in results if s not in EVAL_SETS)
        for set_name in order:
            by = results[set_name]
            ref = REFERENCE_WER.get(set_name, {})
            label = set_name + (f" ({by['utterances']})" if _is_number(by.get("utterances")) else "")
            g, b = by.get("greedy") or {}, by.get("beam") or {}
            out.append(f"| {label} | {_rate(g.get('wer'))} | {_rate(g.get('cer'))} | {_rate(b.get('wer'))} | "
                       f"{_rate(b.get('cer'))} | {_rate(ref.get('pocketsphinx'))} | {_rate(ref.get('whisper_tiny_en'))} |")
        out.append("")

    fp16 = card.get("fp16_check") or {}
    sizes = card.get("sizes") or {}
    if sizes:
        out += ["## Size", ""]
        files = {k: v for k, v in sizes.items() if k != "total"}
        out += [f"- `{k}`: {_mb(v)}" for k, v in files.items()]
        if "total" in sizes:
            out.append(f"- total: {_mb(sizes['total'])} (limit {_mb(card.get('max_bytes', 20_000_000))})")
        if fp16:
            out.append(f"- float16 weights against float32, on {fp16.get('utterances')} utterances: greedy output "
                       f"{'identical' if fp16.get('greedy_identical') else 'DIFFERENT'}, largest log-prob difference "
                       f"{fp16.get('max_abs_log_prob_diff', float('nan')):.2g} (mean "
                       f"{fp16.get('mean_abs_log_prob_diff', float('nan')):.2g}; on probabilities "
                       f"{fp16.get('max_abs_prob_diff', float('nan')):.2g})")
        out.append("")

    weaknesses = card.get("weaknesses") or []
    out += ["## Known weaknesses", ""] + [f"- {w}" for w in weaknesses] + [""]
    return "\n".join(out)
