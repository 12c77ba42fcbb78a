"""Request validation without a server: format sniffing, multipart parsing, limits, API keys."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.filepost import encode_multipart_formdata

from ds2ray.testing.signals import speechlike
from serve.config import hash_api_key
from serve.validate import (InputError, audio_from_request, check_api_key, decode_request_audio, parse_multipart,
                            read_body, sniff_format)

FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
           "mp3": ("MP3", "MPEG_LAYER_III")}


def encode(audio: np.ndarray, rate: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=FORMATS[fmt][0], subtype=FORMATS[fmt][1])
    return buf.getvalue()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("rate", [8000, 44100])
def test_each_format_is_sniffed_and_decoded_to_the_model_rate(fmt, rate):
    audio = speechlike(1.5, rate, seed=1)
    data = encode(audio, rate, fmt)
    assert sniff_format(data) == fmt
    clip = decode_request_audio(data, 16000, max_seconds=10)
    assert clip.format == fmt and clip.native_rate == rate and clip.sample_rate == 16000
    assert clip.audio.dtype == np.float32 and abs(clip.duration_s - 1.5) < 0.1
    # the decoded signal is the one sent, not just something of the right length
    ref = decode_request_audio(encode(audio, rate, "wav"), 16000, 10).audio
    n = min(len(ref), len(clip.audio))
    if fmt in ("wav", "flac"):
        assert np.max(np.abs(ref[:n] - clip.audio[:n])) < 1e-3
    else:  # lossy codecs may shift by an encoder delay; energy must match
        assert abs(np.std(ref) - np.std(clip.audio)) < 0.2 * np.std(ref)


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty input"),
    (b"this is plain text, not audio at all", "not an audio file"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not an audio file"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x01" * 20, "header is unreadable"),
    (b"fLaC" + b"\xff" * 64, "header is unreadable"),
])
def test_bad_input_is_a_400_with_a_clear_message(data, fragment):
    with pytest.raises(InputError) as err:
        decode_request_audio(data, 16000, max_seconds=10)
    assert err.value.status == 400 and fragment in err.value.message
    assert "WAV" in err.value.message or "empty" in err.value.message


def test_too_long_audio_is_a_413():
    data = encode(np.zeros(8000 * 12, np.float32), 8000, "wav")
    with pytest.raises(InputError) as err:
        decode_request_audio(data, 16000, max_seconds=10)
    assert err.value.status == 413 and "10 s limit" in err.value.message


def test_header_only_wav_is_a_400():
    data = encode(speechlike(2.0, 16000), 16000, "wav")
    with pytest.raises(InputError) as err:
        decode_request_audio(data[:44], 16000, max_seconds=10)  # the RIFF header, no samples
    assert err.value.status == 400 and "no audio samples" in err.value.message


async def _chunks(parts):
    for p in parts:
        yield p


def test_body_limit_from_header_and_while_streaming():
    ok = asyncio.run(read_body(_chunks([b"ab", b"cd"]), "4", limit=4))
    assert ok == b"abcd"
    with pytest.raises(InputError) as err:  # declared too big: refused before reading
        asyncio.run(read_body(_chunks([b"x"]), "5", limit=4))
    assert err.value.status == 413
    with pytest.raises(InputError) as err:  # no/false header: refused once the stream passes the limit
        asyncio.run(read_body(_chunks([b"abc", b"de"]), None, limit=4))
    assert err.value.status == 413 and "MiB limit" in err.value.message


def test_api_key_checks():
    expected = hash_api_key("s3cret")
    check_api_key({}, None)  # open service
    check_api_key({"x-api-key": "s3cret"}, expected)
    check_api_key({"authorization": "Bearer s3cret"}, expected)
    for headers, fragment in (({}, "missing"), ({"x-api-key": "nope"}, "wrong"),
                              ({"authorization": "Basic s3cret"}, "missing")):
        with pytest.raises(InputError) as err:
            check_api_key(headers, expected)
        assert err.value.status == 401 and fragment in err.value.message


def test_mp3_frame_sync_without_id3_is_recognised():
    data = encode(speechlike(1.0, 16000), 16000, "mp3")
    if data[:3] == b"ID3":  # strip the tag: the stream must still be recognised by its frame sync
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        data = data[10 + size:]
    assert sniff_format(data) == "mp3"
    assert sniff_format(b"\xff\xff\xff\xff") is None  # all ones is not a valid MPEG header


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=0, max_size=3000), field=st.sampled_from(["file", "audio", "upload"]),
       filename=st.sampled_from(["a.wav", "clip one.mp3", 'we"ird.ogg']))
def test_multipart_round_trip_keeps_bytes_exactly(payload, field, filename):
    body, content_type = encode_multipart_formdata([("note", "hello"), (field, (filename, payload, "audio/wav"))])
    assert audio_from_request(body, content_type) == payload
    parts = parse_multipart(body, content_type)
    assert [p.name for p in parts] == ["note", field]
    assert parts[0].data == b"hello"


def test_multipart_without_a_file_is_a_400():
    body, content_type = encode_multipart_formdata([("note", "hello")])
    with pytest.raises(InputError) as err:
        audio_from_request(body, content_type)
    assert err.value.status == 400 and "no audio file" in err.value.message
    with pytest.raises(InputError):
        audio_from_request(b"garbage", "multipart/form-data")  # no boundary
    assert audio_from_request(b"RIFF raw", "audio/wav") == b"RIFF raw"
