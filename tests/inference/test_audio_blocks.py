"""Reading audio in blocks: same samples as reading it whole, and files broken part-way named when reached."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import soxr

from ds2ray.data.audio import AudioError
from ds2ray.inference.audio_blocks import AudioReader, array_blocks
from ds2ray.testing.signals import speechlike


def encoded(audio: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("rate", [16000, 44100])
def test_blocks_join_to_the_whole_file(tmp_path, rate):
    audio = speechlike(7.3, sample_rate=rate, seed=4)
    path = tmp_path / "a.flac"
    sf.write(path, np.stack([audio, audio * 0.5], axis=1), rate, subtype="PCM_16")  # stereo: mixed to mono
    with AudioReader(str(path), 16000) as reader:
        assert (reader.info.native_rate, reader.info.frames) == (rate, len(audio))
        blocks = list(reader.blocks(2.0))
    assert len(blocks) == 4 and all(b.dtype == np.float32 for b in blocks)
    whole = sf.read(path, dtype="float32")[0].mean(axis=1)
    if rate != 16000:
        whole = soxr.resample(whole, rate, 16000, quality="HQ")
    joined = np.concatenate(blocks)
    assert abs(len(joined) - len(whole)) <= 1
    n = min(len(joined), len(whole))
    assert np.max(np.abs(joined[:n] - whole[:n])) < 1e-3  # streaming and one-shot soxr agree
    from_array = np.concatenate(list(array_blocks(whole, 16000, 16000, 2.0)))
    assert np.array_equal(from_array, whole)


def test_truncated_file_is_named_when_reached(tmp_path):
    data = encoded(speechlike(6.0, seed=5), 16000)
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])  # header still says 6 s
    with AudioReader(str(path), 16000) as reader:
        blocks = reader.blocks(1.0)
        first = next(blocks)  # the good part reads
        assert len(first) == 16000
        with pytest.raises(AudioError, match=r"cut\.wav: truncated or damaged: the header promises 6\.0 s"):
            list(blocks)


def test_corrupt_and_empty_inputs_are_named(tmp_path):
    ogg = encoded(speechlike(8.0, seed=6), 16000, "OGG", "VORBIS")
    broken = bytearray(ogg)
    mid = len(broken) // 2
    broken[mid:mid + 4000] = bytes(4000)  # zeroed pages in the middle
    with pytest.raises(AudioError, match=r"upload.ogg: truncated or damaged: the header promises 8\.0 s"):
        with AudioReader(bytes(broken), 16000, name="upload.ogg") as reader:
            list(reader.blocks(1.0))
    with pytest.raises(AudioError, match="empty input"):
        AudioReader(b"", 16000).__enter__()
    with pytest.raises(AudioError, match="notes.txt: not a readable audio file"):
        (tmp_path / "notes.txt").write_text("hello, not audio")
        AudioReader(str(tmp_path / "notes.txt"), 16000).__enter__()
    with pytest.raises(AudioError, match="file not found"):
        AudioReader(str(tmp_path / "missing.wav"), 16000).__enter__()
