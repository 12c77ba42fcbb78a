"""The push-to-talk console client where there is no desk: its messages and its recorder.

(The recorder's round trip through a live server is in test_app_http.)
"""

from __future__ import annotations

import importlib.util
import io
import sys

import numpy as np
import pytest
import soundfile as sf

from serve.mic import MicError, PushToTalk, load_keyboard, wav_bytes


def test_mic_command_explains_what_is_missing(capsys):
    from ds2ray.cli import main

    assert main(["mic", "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    if importlib.util.find_spec("sounddevice") is None:
        assert "pip install 'ds2ray[mic]'" in err
    else:  # installed: this machine has no microphone or no display
        assert "no microphone" in err or "no display" in err or "PortAudio" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the DISPLAY check is for X11")
def test_no_display_is_reported_before_pynput_is_imported():
    with pytest.raises(MicError, match="no display"):
        load_keyboard({})


def test_recorder_keeps_only_what_was_said_while_held():
    ptt = PushToTalk(16000, min_seconds=0.2)
    assert ptt.release() is None  # release without press
    ptt.press()
    ptt.feed(np.ones(1000, np.float32))
    assert ptt.release() is None  # 1000 samples < 0.2 s: too short
    ptt.press()
    ptt.feed(np.full((4000, 2), 0.5, np.float32))  # stereo blocks are mixed down
    ptt.feed(np.full(4000, -0.5, np.float32))
    audio = ptt.release()
    assert audio.shape == (8000,) and audio[0] == 0.5 and audio[-1] == -0.5
    assert not ptt.recording


def test_wav_bytes_are_16_bit_pcm_at_the_recording_rate():
    audio = np.linspace(-1, 1, 4410, dtype=np.float32)
    data = wav_bytes(audio, 44100)
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 1, "PCM_16", 4410)
    back, _ = sf.read(io.BytesIO(data), dtype="float32")
    assert np.max(np.abs(back - audio)) < 1e-4


def test_mic_stream_explains_what_is_missing_and_needs_a_server(capsys):
    """``ds2ray mic --stream`` needs no keyboard hook (no display), only a microphone and a server."""
    from ds2ray.cli import main

    assert main(["mic", "--stream", "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    if importlib.util.find_spec("sounddevice") is None:
        assert "pip install 'ds2ray[mic]'" in err
    else:
        assert "no microphone" in err or "PortAudio" in err
    assert "no display" not in err
    assert main(["mic", "--stream", "--local"]) == 2
    assert "--stream goes through a server" in capsys.readouterr().err
