"""HTTP client of the transcription service, and ``ds2ray transcribe FILE... --url URL``.

With ``--local`` (or ``--checkpoint``) ``ds2ray transcribe`` runs the model in this process instead
(:func:`ds2ray.transcribe.load_recognizer`): the shipped English model ``en`` by default, through
the long-form path (:meth:`~ds2ray.transcribe.Recognizer.iter_segments`: any length, cut at pauses,
with a progress bar over audio seconds for long files). Either way the transcript can be written
as ``txt``, ``json``, ``srt`` or ``vtt`` (:mod:`ds2ray.transcript_formats`).

Exit status: 0 when every file was transcribed; 2 when some file is bad input (unreadable,
corrupt, truncated, refused by the server with 400 or 413); otherwise 1 (server unreachable,
wrong key, server error).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ds2ray.config import MODEL_BACKENDS, PRECISIONS

DEFAULT_URL = "http://127.0.0.1:8000"

#: file extension -> Content-Type sent with the raw bytes (the server sniffs the format anyway)
CONTENT_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
                 ".opus": "audio/ogg", ".mp3": "audio/mpeg"}


class TranscribeError(RuntimeError):
    """The server refused a request or could not be reached; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def endpoint(url: str) -> str:
    """``http://host:port[/prefix]`` -> its ``/transcribe`` URL (a URL already ending in it is kept)."""
    url = url.rstrip("/")
    return url if url.endswith("/transcribe") else url + "/transcribe"


def transcribe_bytes(data: bytes, url: str = DEFAULT_URL, *, api_key: str | None = None,
                     content_type: str = "application/octet-stream", timeout: float = 60.0,
                     session: Any = None, hotwords: str | None = None) -> dict[str, Any]:
    """POST audio bytes; returns the server's JSON (``text``, ``duration_s``, ``timing``, ...).
    ``hotwords``: ``"word,phrase:weight,..."`` for this request (needs a beam-search server)."""
    import requests

    headers = {"Content-Type": content_type}
    if api_key:
        headers["X-API-Key"] = api_key
    post = (session or requests).post
    target = endpoint(url)
    try:
        r = post(target, data=data, headers=headers, timeout=timeout,
                 params={"hotwords": hotwords} if hotwords else None)
    except requests.RequestException as err:
        raise TranscribeError(f"cannot reach {target} ({err}); is `ds2ray serve` running there?") from err
    try:
        body = r.json()
    except ValueError:
        body = {"error": r.text[:300]}
    if r.status_code != 200:
        raise TranscribeError(f"HTTP {r.status_code}: {body.get('error', body)}", r.status_code)
    return body


def transcribe_file(path: str, url: str = DEFAULT_URL, *, api_key: str | None = None, timeout: float = 60.0,
                    session: Any = None, hotwords: str | None = None) -> dict[str, Any]:
    """Send one audio file (read into memory) and return the server's JSON."""
    with open(path, "rb") as fh:
        data = fh.read()
    ext = os.path.splitext(path)[1].lower()
    return transcribe_bytes(data, url, api_key=api_key, content_type=CONTENT_TYPES.get(ext, "application/octet-stream"),
                            timeout=timeout, session=session, hotwords=hotwords)


def add_local_args(p: argparse.ArgumentParser) -> None:
    """``--local``, ``--checkpoint`` and the decoder flags of the in-process mode (transcribe, mic)."""
    from ds2ray.pretrained import DEFAULT_MODEL

    g = p.add_argument_group("in this process instead of a server")
    g.add_argument("--local", action="store_true",
                   help=f"run the model here, no server (default model: the shipped {DEFAULT_MODEL!r})")
    g.add_argument("--checkpoint", default=None,
                   help="checkpoint folder, model.pt or shipped model name to run here (implies --local)")
    g.add_argument("--decoder", choices=("greedy", "beam"), default=None,
                   help="with --local: greedy or beam (default: beam with the shipped model's LM, or with --lm)")
    g.add_argument("--lm", default=None, help="with --local: KenLM model for beam decoding")
    g.add_argument("--tuned", default=None, help="with --local: best.json of `ds2ray tune` (alpha, beta)")
    p.add_argument("--hotwords", default=None, metavar="'WORD,PHRASE:WEIGHT,...'",
                   help="words or phrases to favour in beam search, each with an optional weight (default 10); "
                        "sent with each request to a server, or used here with --local")
    g.add_argument("--backend", choices=MODEL_BACKENDS, default="auto",
                   help="with --local: run the model with PyTorch or onnxruntime (default auto: onnx for a .onnx "
                        "checkpoint)")
    g.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="with --local, torch backend: operands of the model's big products (default auto: bf16 "
                        "on a CPU with native bf16, ~1.5x faster; fp32 elsewhere)")


def recognizer_from_args(args: argparse.Namespace):
    """The in-process :class:`~ds2ray.transcribe.Recognizer` the flags ask for, or ``None`` (use the server)."""
    if not (args.local or args.checkpoint):
        if (args.lm or args.tuned or args.decoder or getattr(args, "backend", "auto") != "auto"
                or getattr(args, "precision", "auto") != "auto"):
            raise ValueError("--decoder/--lm/--tuned/--backend/--precision apply to --local runs; the server decodes as "
                             "`ds2ray serve` was told")
        return None
    from ds2ray.pretrained import DEFAULT_MODEL
    from ds2ray.transcribe import load_recognizer

    return load_recognizer(args.checkpoint or DEFAULT_MODEL, backend=getattr(args, "backend", "auto"),
                           precision=getattr(args, "precision", "auto"),
                           decoder=args.decoder, lm=args.lm, tuned=args.tuned,
                           hotwords=getattr(args, "hotwords", None))


def register(sub) -> None:
    from ds2ray.transcript_formats import FORMATS

    p = sub.add_parser(
        "transcribe", help="transcribe audio files of any length: through a running `ds2ray serve`, or here "
                           "with --local",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=("POST each file to URL/transcribe and print one line per file: FILE<TAB>TEXT.\n"
                     "Files of any length (minutes to hours) are cut at pauses and the segments batched\n"
                     "through the model.\n\n"
                     "--format json: one JSON object per file {file, text, duration, segments: [{start, end,\n"
                     "text, words: [{word, start, end}]}], words}; srt/vtt: subtitles; txt with --out: one\n"
                     "line per segment. --out FILE (one input) or --out DIR (several, or an existing folder):\n"
                     "DIR/<name>.<format> per input.\n\n"
                     "With --local (or --checkpoint CK) the model runs in this process instead, with a progress\n"
                     "bar for long files: the shipped English model 'en' by default, beam search with its LM\n"
                     "and tuned alpha/beta.\n\n"
                     "Exit status: 0 all transcribed; 2 a file is bad input (unreadable, corrupt or truncated,\n"
                     "or refused by the server with 400/413; the message names it); 1 any other failure.\n\n"
                     "examples:\n"
                     "  ds2ray transcribe a.wav b.mp3 --url http://127.0.0.1:8000\n"
                     "  ds2ray transcribe --local meeting.ogg --format srt --out meeting.srt\n"
                     "  ds2ray transcribe --checkpoint runs/demo/best --decoder greedy *.wav --format vtt --out subs/"),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files: WAV, FLAC, OGG or MP3, any sample rate")
    p.add_argument("--url", default=os.environ.get("DS2RAY_URL", DEFAULT_URL),
                   help=f"server address (default $DS2RAY_URL or {DEFAULT_URL})")
    p.add_argument("--api-key", default=None,
                   help="API key, if the server needs one (default: $DS2RAY_API_KEY)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="txt (default), json, srt or vtt (subtitles; long segments split into cues at words)")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="write the transcript to PATH (one input) or into the folder PATH (several inputs, an "
                        "existing folder, or a path ending in '/') as <name>.<format>; default: stdout")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds to wait per request (default 600: long recordings take a while)")
    add_local_args(p)
    from serve.stream_client import add_stream_args

    add_stream_args(p, file_pace=True)
    p.set_defaults(func=run)


def output_format(args: argparse.Namespace) -> str:
    if args.json and args.format not in (None, "json"):
        raise ValueError(f"--json and --format {args.format} disagree; give one of them")
    return "json" if args.json else (args.format or "txt")


def output_path(args: argparse.Namespace, path: str, fmt: str) -> str | None:
    """Where ``path``'s transcript goes: ``None`` for stdout, else a file (see ``--out``)."""
    if not args.out:
        return None
    out = args.out
    if len(args.files) > 1 or os.path.isdir(out) or out.endswith(("/", os.sep)):
        os.makedirs(out, exist_ok=True)
        return os.path.join(out, f"{os.path.splitext(os.path.basename(path))[0]}.{fmt}")
    return out


def emit(args: argparse.Namespace, path: str, fmt: str, transcript, extra: dict[str, Any]) -> None:
    """Print or write one file's transcript in ``fmt``."""
    import json

    from ds2ray import fileio
    from ds2ray.transcript_formats import format_transcript

    target = output_path(args, path, fmt)
    if fmt == "json":
        text = json.dumps({"file": path, **transcript.to_dict(), "words": [w.to_dict() for w in transcript.words],
                           **extra}, ensure_ascii=False) + "\n"
    elif fmt == "txt" and target is None:
        text = f"{path}\t{transcript.text}\n"
    else:
        text = format_transcript(transcript, fmt)
    if target is None:
        print(text, end="", flush=True)
        return
    with fileio.atomic_write(target) as fh:
        fh.write(text)


def run_local(args: argparse.Namespace, recognizer) -> int:
    import sys

    from tqdm import tqdm

    from ds2ray.data.audio import AudioError, audio_info
    from ds2ray.transcript_formats import transcript_from_segments

    fmt = output_format(args)
    status = 0
    for path in args.files:
        try:
            seconds = audio_info(path).duration
            with tqdm(total=round(seconds, 1), unit="s", desc=os.path.basename(path), leave=False,
                      disable=True if seconds < 60 else None, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s "
                      "[{elapsed}<{remaining}]") as bar:
                def advance(done: float) -> None:
                    bar.update(max(0.0, min(done, seconds) - bar.n))

                segments = list(recognizer.iter_segments(path, progress=advance))
            transcript = transcript_from_segments(segments, seconds, recognizer.model.vocab.language)
        except AudioError as err:  # names the file, says what is wrong
            print(f"{path}: error: {err}", file=sys.stderr)
            status = 2
            continue
        except (OSError, RuntimeError) as err:
            print(f"{path}: error: {err}", file=sys.stderr)
            status = max(status, 1)
            continue
        emit(args, path, fmt, transcript, {"checkpoint": recognizer.checkpoint,
                                           "decoder": recognizer.decoder.config.type})
    return status


def run(args: argparse.Namespace) -> int:
    import sys

    import requests

    from ds2ray.transcript_formats import Transcript

    fmt = output_format(args)
    if args.stream and (args.local or args.checkpoint):
        print("ds2ray transcribe: --stream goes through a server's /stream; drop --local/--checkpoint (or --stream)",
              file=sys.stderr)
        return 2
    recognizer = recognizer_from_args(args)
    if recognizer is not None:
        return run_local(args, recognizer)
    api_key = args.api_key if args.api_key is not None else os.environ.get("DS2RAY_API_KEY")
    if args.stream:  # WebSocket /stream: partials as the audio goes (serve/stream_client.py)
        from serve.stream_client import run_stream_files

        return run_stream_files(args, api_key)
    status = 0
    with requests.Session() as session:
        for i, path in enumerate(args.files):
            try:
                result = transcribe_file(path, args.url, api_key=api_key, timeout=args.timeout, session=session,
                                         hotwords=args.hotwords)
            except (TranscribeError, OSError) as err:
                print(f"{path}: error: {err}", file=sys.stderr)
                bad_input = isinstance(err, OSError) or err.status in (400, 413)
                status = 2 if bad_input else max(status, 1)
                if isinstance(err, TranscribeError) and err.status is None:
                    rest = len(args.files) - i - 1
                    if rest:  # server unreachable: the other files would fail the same way
                        print(f"skipping the {rest} remaining file(s)", file=sys.stderr)
                    break
                continue
            transcript = Transcript.from_dict(result)
            extra = {k: v for k, v in result.items() if k not in ("text", "segments", "words", "duration_s")}
            emit(args, path, fmt, transcript, extra)
    return status
