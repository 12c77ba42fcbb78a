import io

import numpy as np
import pytest
import soundfile as sf

from ds2ray.data.audio import AudioError, audio_info, decode_audio, load_audio
from ds2ray.testing.signals import sine, write_audio


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


@pytest.mark.parametrize("rate, channels", [(8000, 1), (44100, 1), (48000, 2), (16000, 1)])
def test_resampling_keeps_frequency(tmp_path, rate, channels):
    tone = sine(1000.0, 1.0, rate)
    data = np.stack([tone, tone], axis=1) if channels == 2 else tone
    path = write_audio(tmp_path / f"t{rate}.wav", data, rate)
    audio = load_audio(str(path), 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) <= 2
    assert abs(_peak_hz(audio, 16000) - 1000.0) <= 1.0  # 1 Hz bins over 1 s


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_formats(tmp_path, ext):
    path = write_audio(tmp_path / f"t.{ext}", sine(440.0, 1.0, 16000), 16000)
    audio = load_audio(str(path), 16000)
    assert abs(len(audio) - 16000) < 1200  # MP3 may pad/trim a frame
    assert abs(_peak_hz(audio, 16000) - 440.0) <= 2.0


def test_offset_and_duration_slice(tmp_path):
    x = np.arange(16000, dtype=np.float32) / 16000
    path = write_audio(tmp_path / "ramp.wav", x, 16000, subtype="FLOAT")
    part = load_audio(str(path), 16000, offset=0.25, duration=0.5)
    assert len(part) == 8000
    assert part[0] == pytest.approx(0.25, abs=1e-6)


def test_missing_empty_truncated_corrupt(tmp_path):
    with pytest.raises(AudioError, match="file not found") as err:
        load_audio(str(tmp_path / "missing.wav"))
    assert "missing.wav" in str(err.value)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        load_audio(str(empty))
    good = write_audio(tmp_path / "good.flac", sine(300.0, 2.0, 16000), 16000)
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(AudioError, match="truncated|corrupt") as err:
        load_audio(str(truncated))
    assert "truncated.flac" in str(err.value)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    with pytest.raises(AudioError, match="corrupt"):
        load_audio(str(junk))
    with pytest.raises(AudioError, match="not a readable audio file"):
        audio_info(str(junk))


def test_decode_bytes_and_info(tmp_path):
    buf = io.BytesIO()
    sf.write(buf, sine(500.0, 0.5, 22050), 22050, format="WAV")
    audio, native = decode_audio(buf.getvalue(), 16000)
    assert native == 22050 and abs(len(audio) - 8000) <= 2
    with pytest.raises(AudioError, match="empty input"):
        decode_audio(b"")
    with pytest.raises(AudioError, match="corrupt"):
        decode_audio(b"this is not audio at all" * 20)
    path = write_audio(tmp_path / "i.flac", sine(500.0, 0.5, 8000), 8000)
    info = audio_info(str(path))
    assert info.sample_rate == 8000 and info.channels == 1 and info.duration == pytest.approx(0.5)


def test_fsspec_url(tmp_path):
    path = write_audio(tmp_path / "u.wav", sine(700.0, 0.5, 16000), 16000)
    a = load_audio(f"file://{path}")
    b = load_audio(str(path))
    np.testing.assert_array_equal(a, b)
    import fsspec

    with fsspec.open("memory://bucket/u.wav", "wb") as fh:
        fh.write(path.read_bytes())
    np.testing.assert_array_equal(load_audio("memory://bucket/u.wav"), b)
