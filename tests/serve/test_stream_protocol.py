"""``/stream``'s protocol pieces without Ray: message parsing, frame checks, the key rule, the close
reason's size, the client's URL and PCM helpers, the stream settings of ``ServeConfig`` and
``ds2ray serve``, and a server with no streaming model (4503) over a real WebSocket (uvicorn in a
thread, the same ASGI server Serve's proxy runs). The app with a model is in test_stream.py.
"""

from __future__ import annotations

import argparse
import asyncio

import numpy as np
import pytest

from ds2ray.config import ConfigError
from serve.config import ServeConfig, hash_api_key
from serve.stream import (Close, StreamLimits, StreamRefused, StreamService, check_key, close_reason, parse_json,
                          parse_start, pcm_frame, stream_threads)
from serve.stream_client import StreamError, chunks_of, pcm16, stream_pcm, stream_url

from .conftest import websocket_server


def refusal(fn, *args) -> StreamRefused:
    with pytest.raises(StreamRefused) as info:
        fn(*args)
    return info.value


def test_messages_are_parsed_or_refused_with_their_code():
    assert parse_json('{"type": "stop"}') == {"type": "stop"}
    assert refusal(parse_json, "{nope").code == Close.INVALID
    assert refusal(parse_json, "[1, 2]").code == Close.INVALID
    assert refusal(parse_json, '{"kind": "start"}').code == Close.INVALID
    start = parse_start({"type": "start", "sample_rate": 44100.0, "api_key": "k"})
    assert (start.sample_rate, start.encoding, start.api_key) == (44100, "pcm16", "k")
    for bad in ("16000", True, 16000.5, 4000, 192000, None):
        err = refusal(parse_start, {"type": "start", "sample_rate": bad})
        assert err.code == Close.INVALID and "sample_rate" in err.message
    assert refusal(parse_start, {"sample_rate": 16000, "encoding": "opus"}).code == Close.UNSUPPORTED
    assert refusal(parse_start, {"sample_rate": 16000, "api_key": 5}).code == Close.INVALID


def test_frames_are_checked_for_size_and_whole_samples():
    samples = np.array([0, 1, -1, 32767, -32768], np.int16)
    assert np.array_equal(pcm_frame(samples.astype("<i2").tobytes(), 10), samples)
    assert refusal(pcm_frame, b"\x00" * 12, 10).code == Close.TOO_BIG
    err = refusal(pcm_frame, b"\x00" * 7, 10)
    assert err.code == Close.INVALID and "even byte count" in err.message


def test_the_key_comes_from_the_header_or_the_start_message():
    digest = hash_api_key("k1")
    check_key({}, None, None)  # an open server
    check_key({"x-api-key": "k1"}, None, digest)
    check_key({"authorization": "Bearer k1"}, None, digest)
    check_key({}, "k1", digest)
    for headers, key, fragment in (({}, None, "missing API key"), ({"x-api-key": "no"}, None, "wrong API key"),
                                   ({"x-api-key": "k1"}, "no", "wrong API key")):
        err = refusal(check_key, headers, key, digest)
        assert err.code == Close.UNAUTHORIZED and fragment in err.message


def test_close_reasons_fit_in_a_close_frame():
    assert close_reason("short") == "short"
    long = "é" * 200  # 2 bytes each
    cut = close_reason(long)
    assert len(cut.encode()) <= 123 and cut.endswith("...")


def test_client_helpers():
    assert stream_url("http://h:1") == "ws://h:1/stream"
    assert stream_url("https://h/p/transcribe") == "wss://h/p/stream"
    assert stream_url("h:8000/") == "ws://h:8000/stream"
    audio = np.linspace(-1, 1, 1000, dtype=np.float32)
    back = np.frombuffer(pcm16(audio), "<i2")
    assert back[0] == -32768 and back[-1] == 32767 and np.abs(back / 32768 - audio).max() < 1e-4
    frames = chunks_of(audio, 16000, chunk_ms=20)
    assert [len(f) for f in frames] == [640] * 3 + [80]
    assert stream_threads(0.25) == 1 and stream_threads(2.0) == 2


def test_stream_settings_in_the_config_and_the_flags(tmp_path):
    from ds2ray.testing.checkpoints import make_untrained_checkpoint
    from serve.cli import config_from_args, register

    with pytest.raises(ConfigError, match="stream_max_streams"):
        ServeConfig(checkpoint="x", stream_max_streams=0)
    cfg = ServeConfig(checkpoint="x", stream_max_frame_bytes=100, stream_idle_timeout_s=2, stream_max_seconds=30,
                      stream_max_streams=3)
    assert cfg.stream_limits() == StreamLimits(100, 2.0, 30.0, 3)
    offline = make_untrained_checkpoint(str(tmp_path / "bi"))  # the tiny preset: bidirectional
    with pytest.raises(ConfigError, match="bidirectional"):
        ServeConfig(checkpoint=offline, stream_checkpoint=offline).resolved({})
    with pytest.raises(ConfigError, match="stream_checkpoint"):
        ServeConfig(checkpoint=offline, stream_checkpoint=str(tmp_path / "nothing")).resolved({})
    online = make_untrained_checkpoint(str(tmp_path / "uni"), bidirectional=False)
    assert ServeConfig(checkpoint=offline, stream_checkpoint=online).resolved({}).stream_checkpoint == online
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--checkpoint", offline, "--stream-checkpoint", online, "--stream-num-cpus", "2",
                              "--stream-max-streams", "4", "--stream-max-frame-bytes", "4000",
                              "--stream-idle-timeout", "3", "--stream-max-seconds", "60"])
    cfg = config_from_args(args)
    assert (cfg.stream_checkpoint, cfg.stream_num_cpus, cfg.stream_limits()) == (online, 2.0,
                                                                                 StreamLimits(4000, 3.0, 60.0, 4))


@pytest.fixture
def bare_server():
    """``StreamService`` with no streaming model behind a real uvicorn WebSocket server on 127.0.0.1."""
    with websocket_server(StreamService(None, StreamLimits(), None), start_timeout_s=20) as url:
        yield url


def test_no_streaming_model_is_refused_with_4503(bare_server):
    with pytest.raises(StreamError) as info:
        asyncio.run(stream_pcm(bare_server, [pcm16(np.zeros(1600, np.float32))], 16000, timeout=10))
    assert info.value.code == Close.NO_MODEL and "--stream-checkpoint" in str(info.value)


def test_transcribe_stream_refuses_local_and_names_an_unreachable_server(tmp_path, capsys):
    import soundfile as sf

    from ds2ray.cli import main

    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(1600, np.float32), 16000)
    assert main(["transcribe", "--stream", "--local", str(path)]) == 2
    assert "--stream goes through a server" in capsys.readouterr().err
    assert main(["transcribe", "--stream", str(path), str(path), "--url", "http://127.0.0.1:9", "--pace", "0"]) == 1
    err = capsys.readouterr().err
    assert "cannot open ws://127.0.0.1:9/stream" in err and "skipping the 1 remaining file" in err
    assert main(["transcribe", "--stream", str(tmp_path / "missing.wav"), "--url", "http://127.0.0.1:9"]) == 2
