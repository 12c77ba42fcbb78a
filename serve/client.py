"""HTTP client of the transcription service, and ``ds2ray transcribe FILE... --url URL``.

With ``--local`` (or ``--checkpoint``) ``ds2ray transcribe`` runs the model in this process instead
(:func:`ds2ray.transcribe.load_recognizer`): the shipped English model ``en`` by default.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

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
                     session: Any = None) -> dict[str, Any]:
    """POST audio bytes; returns the server's JSON (``text``, ``duration_s``, ``timing``, ...)."""
    import requests

    headers = {"Content-Type": content_type}
    if api_key:
        headers["X-API-Key"] = api_key
    post = (session or requests).post
    target = endpoint(url)
    try:
        r = post(target, data=data, headers=headers, timeout=timeout)
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
                    session: Any = None) -> dict[str, Any]:
    """Send one audio file (read into memory) and return the server's JSON."""
    with open(path, "rb") as fh:
        data = fh.read()
    ext = os.path.splitext(path)[1].lower()
    return transcribe_bytes(data, url, api_key=api_key, content_type=CONTENT_TYPES.get(ext, "application/octet-stream"),
                            timeout=timeout, session=session)


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


def recognizer_from_args(args: argparse.Namespace):
    """The in-process :class:`~ds2ray.transcribe.Recognizer` the flags ask for, or ``None`` (use the server)."""
    if not (args.local or args.checkpoint):
        if args.lm or args.tuned or args.decoder:
            raise ValueError("--decoder/--lm/--tuned apply to --local runs; the server decodes as `ds2ray serve` "
                             "was told")
        return None
    from ds2ray.pretrained import DEFAULT_MODEL
    from ds2ray.transcribe import load_recognizer

    return load_recognizer(args.checkpoint or DEFAULT_MODEL, decoder=args.decoder, lm=args.lm, tuned=args.tuned)


def register(sub) -> None:
    p = sub.add_parser(
        "transcribe", help="transcribe audio files: through a running `ds2ray serve`, or here with --local",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=("POST each file to URL/transcribe and print one line per file: FILE<TAB>TEXT\n"
                     "(with --json: the server's whole JSON answer, with each word's start and end in\n"
                     "seconds). A file the server refuses is reported on stderr and the exit status is 1.\n\n"
                     "With --local (or --checkpoint CK) the model runs in this process instead: the shipped\n"
                     "English model 'en' by default, beam search with its LM and tuned alpha/beta.\n\n"
                     "examples:\n"
                     "  ds2ray transcribe a.wav b.mp3 --url http://127.0.0.1:8000\n"
                     "  ds2ray transcribe --local a.wav\n"
                     "  ds2ray transcribe --checkpoint runs/demo/best --decoder greedy a.wav"),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files: WAV, FLAC, OGG or MP3, any sample rate")
    p.add_argument("--url", default=os.environ.get("DS2RAY_URL", DEFAULT_URL),
                   help=f"server address (default $DS2RAY_URL or {DEFAULT_URL})")
    p.add_argument("--api-key", default=None,
                   help="API key, if the server needs one (default: $DS2RAY_API_KEY)")
    p.add_argument("--json", action="store_true",
                   help="print the server's JSON answer per file (one per line; --local: file, text, checkpoint, "
                        "decoder); both with words: [{word, start, end}] in seconds")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait per request (default 60)")
    add_local_args(p)
    p.set_defaults(func=run)


def run_local(args: argparse.Namespace, recognizer) -> int:
    import json
    import sys

    failed = 0
    for path in args.files:
        try:
            segment = recognizer.transcribe_file_segment(path)
        except (OSError, RuntimeError) as err:  # AudioError is a RuntimeError naming the file
            print(f"{path}: error: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps({"file": path, "text": segment.text, "checkpoint": recognizer.checkpoint,
                              "decoder": recognizer.decoder.config.type,
                              "words": segment.to_dict()["words"]}), flush=True)
        else:
            print(f"{path}\t{segment.text}", flush=True)
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    import requests

    recognizer = recognizer_from_args(args)
    if recognizer is not None:
        return run_local(args, recognizer)
    api_key = args.api_key if args.api_key is not None else os.environ.get("DS2RAY_API_KEY")
    failed = 0
    with requests.Session() as session:
        for i, path in enumerate(args.files):
            try:
                result = transcribe_file(path, args.url, api_key=api_key, timeout=args.timeout, session=session)
            except (TranscribeError, OSError) as err:
                print(f"{path}: error: {err}", file=sys.stderr)
                failed += 1
                if isinstance(err, TranscribeError) and err.status is None:
                    rest = len(args.files) - i - 1
                    if rest:  # server unreachable: the other files would fail the same way
                        print(f"skipping the {rest} remaining file(s)", file=sys.stderr)
                    break
                continue
            if args.json:
                print(json.dumps({"file": path, **result}), flush=True)
            else:
                print(f"{path}\t{result['text']}", flush=True)
    return 1 if failed else 0
