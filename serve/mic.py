"""Microphone console clients: push-to-talk (the seed's demo client: hold space to talk, release to
see the text) and, with ``--stream``, live streaming over the WebSocket ``/stream`` (partial text
while you speak, a final line at each pause, Ctrl-C ends; no keyboard hook, so no display needed).

``ds2ray mic --url URL``, or ``ds2ray mic --local`` to run the model in this process (the shipped
English model ``en`` unless ``--checkpoint`` names another). Audio comes from the default (or ``--device``) microphone through
sounddevice; the keyboard is read with pynput, which needs a display (X11) on Linux. Both are
optional dependencies (``pip install 'ds2ray[mic]'``), imported only when the command runs.
Each recording is encoded as WAV in memory and sent to ``URL/transcribe``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
from typing import Any, Callable

import numpy as np

INSTALL_HINT = "pip install 'ds2ray[mic]'  (PortAudio too: apt-get install libportaudio2)"


class MicError(RuntimeError):
    """The microphone client cannot run here; the message says why and what to use instead."""


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """Mono float audio (N,) -> 16-bit PCM WAV bytes."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class PushToTalk:
    """Collects audio blocks between ``press()`` and ``release()``.

    ``feed`` is called from the audio thread with (frames,) or (frames, channels) blocks;
    ``release`` returns the recording (N,) float32, or ``None`` when it is shorter than
    ``min_seconds``. Key auto-repeat (many presses while held) is harmless.
    """

    def __init__(self, sample_rate: int, min_seconds: float = 0.2) -> None:
        self.sample_rate = sample_rate
        self.min_samples = int(min_seconds * sample_rate)
        self._blocks: list[np.ndarray] = []
        self._recording = False
        self._lock = threading.Lock()

    @property
    def recording(self) -> bool:
        return self._recording

    def press(self) -> bool:
        """Start recording; False if already recording."""
        with self._lock:
            if self._recording:
                return False
            self._blocks, self._recording = [], True
            return True

    def feed(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 2:
            block = block.mean(axis=1)
        with self._lock:
            if self._recording:
                self._blocks.append(block.copy())

    def release(self) -> np.ndarray | None:
        with self._lock:
            if not self._recording:
                return None
            self._recording = False
            audio = np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)
            self._blocks = []
        return audio if len(audio) >= self.min_samples else None


def load_sounddevice(device: str | None) -> Any:
    """Import sounddevice and check there is an input device; :class:`MicError` otherwise."""
    try:
        import sounddevice as sd
    except ImportError as err:
        raise MicError(f"the microphone client needs sounddevice: {INSTALL_HINT}") from err
    except OSError as err:  # the module imports but PortAudio is missing
        raise MicError(f"sounddevice cannot load PortAudio ({err}): apt-get install libportaudio2") from err
    try:
        sd.query_devices(device=_device(device), kind="input")
    except (ValueError, sd.PortAudioError) as err:
        raise MicError(f"no microphone found ({err}). Plug one in, pick one with --device (list them with "
                       "`python -m sounddevice`), or send files with `ds2ray transcribe FILE`") from err
    return sd


def load_keyboard(environ: dict[str, str] | None = None) -> Any:
    """Import pynput's keyboard module; :class:`MicError` when it is missing or there is no display."""
    environ = dict(os.environ) if environ is None else environ
    no_display = ("no display: the push-to-talk client reads the space bar through the window system "
                  "(DISPLAY is not set). Run it in a desktop session, or use `ds2ray transcribe FILE` or the web "
                  "page served by `ds2ray serve`")
    if sys.platform.startswith("linux") and not environ.get("DISPLAY"):
        raise MicError(no_display)
    try:
        from pynput import keyboard
    except ImportError as err:
        if "pynput" in str(err) or getattr(err, "name", "") == "pynput":
            raise MicError(f"the microphone client needs pynput: {INSTALL_HINT}") from err
        raise MicError(f"{no_display} ({err})") from err
    except Exception as err:  # Xlib raises its own errors when the display cannot be opened
        raise MicError(f"{no_display} ({type(err).__name__}: {err})") from err
    return keyboard


def _device(device: str | None) -> int | str | None:
    if device is None:
        return None
    return int(device) if device.isdigit() else device


def run_push_to_talk(url: str, *, api_key: str | None, sample_rate: int, device: str | None,
                     show: Callable[[str], None] = print, recognizer: Any = None,
                     hotwords: str | None = None) -> None:
    """The interactive loop: space held = record, released = transcribe and print, ESC = quit.

    With a ``recognizer`` (:class:`ds2ray.transcribe.Recognizer`) recordings are transcribed in
    this process; otherwise they are sent to ``url``."""
    from serve.client import TranscribeError, transcribe_bytes

    sd = load_sounddevice(device)
    keyboard = load_keyboard()
    ptt = PushToTalk(sample_rate)

    def on_audio(indata, frames, time_info, status) -> None:  # audio thread
        ptt.feed(indata)

    def send(audio: np.ndarray) -> None:
        show(f"... transcribing {len(audio) / sample_rate:.1f} s")
        try:
            if recognizer is not None:
                text = recognizer.transcribe(audio, sample_rate)
            else:
                text = transcribe_bytes(wav_bytes(audio, sample_rate), url, api_key=api_key,
                                        content_type="audio/wav", hotwords=hotwords)["text"]
            show(f">>> {text or '(nothing recognised)'}")
        except TranscribeError as err:
            show(f"error: {err}")

    def on_press(key) -> None:
        if key == keyboard.Key.space and ptt.press():
            show("recording... (release space to transcribe)")

    def on_release(key) -> bool | None:
        if key == keyboard.Key.esc:
            return False  # stops the listener
        if key == keyboard.Key.space:
            audio = ptt.release()
            if audio is None:
                show("too short: hold space while you speak")
            else:
                threading.Thread(target=send, args=(audio,), daemon=True).start()
        return None

    where = f"model {recognizer.checkpoint}, in this process" if recognizer is not None else f"server {url}"
    show(f"Hold SPACE to talk, release to transcribe, ESC to quit ({where})")
    try:
        with sd.InputStream(samplerate=sample_rate, channels=1, dtype="float32", device=_device(device),
                            callback=on_audio):
            with keyboard.Listener(on_press=on_press, on_release=on_release) as listener:
                listener.join()
    except sd.PortAudioError as err:
        raise MicError(f"cannot open the microphone ({err}); pick another with --device") from err


def run_streaming(url: str, *, api_key: str | None, sample_rate: int, device: str | None,
                  out: Any = None, block_ms: float = 100.0) -> None:
    """``ds2ray mic --stream``: the microphone to ``url``'s ``/stream`` in ``block_ms`` frames until
    Ctrl-C; partials rewrite the current line, finals stay (:class:`serve.stream_client.LiveText`)."""
    import asyncio
    import signal

    from serve.stream_client import LiveText, pcm16, stream_pcm

    sd = load_sounddevice(device)
    show = LiveText(out or sys.stdout)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        blocks: asyncio.Queue[bytes] = asyncio.Queue()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGINT, stop.set)

        def on_audio(indata, frames, time_info, status) -> None:  # audio thread
            data = pcm16(np.asarray(indata, np.float32).mean(axis=1))
            loop.call_soon_threadsafe(blocks.put_nowait, data)

        async def chunks():
            while True:
                try:
                    block = await asyncio.wait_for(blocks.get(), 0.2)
                except asyncio.TimeoutError:
                    block = None
                if block is not None:
                    yield block
                if stop.is_set():  # Ctrl-C: stream_pcm sends stop and waits for the last final
                    return

        print(f"Streaming the microphone to {url} (Ctrl-C ends)", file=sys.stderr)
        try:
            with sd.InputStream(samplerate=sample_rate, channels=1, dtype="float32", device=_device(device),
                                blocksize=int(sample_rate * block_ms / 1000), callback=on_audio):
                await stream_pcm(url, chunks(), sample_rate, api_key=api_key, on_event=show)
        except sd.PortAudioError as err:
            raise MicError(f"cannot open the microphone ({err}); pick another with --device") from err
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    asyncio.run(main())


def register(sub) -> None:
    p = sub.add_parser(
        "mic", help="microphone client for a running `ds2ray serve`: push-to-talk (or --local), or live with "
                    "--stream",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=("Hold SPACE to talk, release to send the recording to URL/transcribe and print the text;\n"
                     "ESC quits. Needs a microphone, a desktop session (pynput reads the keyboard through\n"
                     f"the window system) and the optional dependencies: {INSTALL_HINT}\n\n"
                     "--stream: stream the microphone over the WebSocket /stream instead (the server needs\n"
                     "--stream-checkpoint): partial text while you speak, a line per pause, Ctrl-C ends."),
    )
    from serve.client import DEFAULT_URL

    p.add_argument("--url", default=os.environ.get("DS2RAY_URL", DEFAULT_URL),
                   help=f"server address (default $DS2RAY_URL or {DEFAULT_URL})")
    p.add_argument("--api-key", default=None, help="API key, if the server needs one (default: $DS2RAY_API_KEY)")
    p.add_argument("--sample-rate", type=int, default=16000, help="recording rate in Hz (default 16000)")
    p.add_argument("--device", default=None, help="input device number or name (default: the system default)")
    from serve.client import add_local_args

    add_local_args(p)
    from serve.stream_client import add_stream_args

    add_stream_args(p, file_pace=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from serve.client import recognizer_from_args

    api_key = args.api_key if args.api_key is not None else os.environ.get("DS2RAY_API_KEY")
    try:
        if args.stream:
            if args.local or args.checkpoint:
                raise MicError("--stream goes through a server's /stream; drop --local/--checkpoint, or drop --stream "
                               "for push-to-talk in this process")
            from serve.stream_client import StreamError

            try:
                run_streaming(args.url, api_key=api_key, sample_rate=args.sample_rate, device=args.device)
            except StreamError as err:
                print(f"ds2ray mic: {err}", file=sys.stderr)
                return 1
            return 0
        load_sounddevice(args.device)  # say what is missing before loading a model
        load_keyboard()
        recognizer = recognizer_from_args(args)
        run_push_to_talk(args.url, api_key=api_key, sample_rate=args.sample_rate, device=args.device,
                         recognizer=recognizer, hotwords=args.hotwords)
    except MicError as err:
        print(f"ds2ray mic: {err}", file=sys.stderr)
        return 2
    return 0
