"""``/stream`` for real: the Serve app on the session's Ray, a WebSocket client over 127.0.0.1.

One deployment serves the module: an untrained ``online`` model (normalised with the test speech's
statistics, so it spells many labels) as both the HTTP and the streaming model, an API key, and
small limits (16000-byte frames: 100 ms of a browser's 48 kHz is 9600, 1 s idle timeout, 6 s streams, 2 streams per replica) so each refusal
is cheap to provoke. The finals must be exactly those of the library's streaming recognizer on the
same audio, whose equality with offline decoding tests/streaming checks; the joined labels are
checked against offline greedy decoding here too.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import requests
import soundfile as sf

from .conftest import two_sentences

API_KEY = "stream-key-81d3"
SR = 16000
LIMITS = dict(stream_max_frame_bytes=16000, stream_idle_timeout_s=1.0, stream_max_seconds=6.0, stream_max_streams=2)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """Two espeak-ng sentences with 1 s of near-silence between them, 16 kHz float32 (about 4 s)."""
    return two_sentences(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def online_checkpoint(tmp_path_factory, speech) -> str:
    """An untrained ``online`` checkpoint whose normaliser holds ``speech``'s statistics."""
    import torch

    from ds2ray.data.normalizer import NormalizerStats
    from ds2ray.inference.model import load_acoustic_model
    from ds2ray.model.checkpoint import save_checkpoint
    from ds2ray.testing.checkpoints import make_untrained_checkpoint

    folder = make_untrained_checkpoint(str(tmp_path_factory.mktemp("online") / "ckpt"), preset="online", seed=2)
    am = load_acoustic_model(folder)
    feats = am.extractor(torch.from_numpy(speech))
    stats = NormalizerStats(feats.mean(0).numpy(), feats.std(0).numpy(), am.feature_config)
    save_checkpoint(folder, am.model, model_config=am.model_config, feature_config=am.feature_config, vocab=am.vocab,
                    normalizer=stats)
    return folder


@pytest.fixture(scope="module")
def reference(online_checkpoint, speech):
    """The library's streaming finals on ``speech`` and offline greedy text of the same model."""
    from ds2ray.decode.greedy import GreedyDecoder
    from ds2ray.inference.model import load_acoustic_model
    from ds2ray.streaming import StreamingRecognizer

    am = load_acoustic_model(online_checkpoint, backend="torch")
    sent = np.frombuffer(pcm(speech), "<i2")  # what goes over the wire: 16-bit PCM
    stream = StreamingRecognizer(am).stream()
    events = stream.accept(sent) + stream.finish()
    offline = GreedyDecoder(am.vocab).decode(am.log_probs([sent.astype(np.float32) / 32768])[0])
    return [e.to_dict() for e in events if e.kind == "final"], offline


@pytest.fixture(scope="module")
def server(ray_session, online_checkpoint):
    from serve.app import run_in_process

    srv = run_in_process(online_checkpoint, api_key=API_KEY, port=0, name="ds2ray-stream-test",
                         stream_checkpoint=online_checkpoint, num_cpus=0.5, front_num_cpus=0.25, stream_num_cpus=1,
                         max_seconds=10, max_batch_seconds=10, max_segment_seconds=10, **LIMITS)
    yield srv
    srv.stop()


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/stream"


def connect(server, headers=None):
    from websockets.sync.client import connect as ws_connect

    return ws_connect(ws_url(server), additional_headers=headers, open_timeout=10, max_size=2**22)


def start(ws, rate=SR, **fields):
    ws.send(json.dumps({"type": "start", "sample_rate": rate, "encoding": "pcm16", **fields}))
    return json.loads(ws.recv(timeout=10))


def pcm(audio: np.ndarray) -> bytes:
    return np.round(np.clip(audio, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()


def until_closed(ws, timeout=20.0) -> list[dict]:
    """Every message until the server closes; returns them (the close code is ``ws.close_code``)."""
    from websockets.exceptions import ConnectionClosed

    out = []
    try:
        while True:
            out.append(json.loads(ws.recv(timeout=timeout)))
    except ConnectionClosed:
        pass
    return out


def refused(ws, code: int, fragment: str) -> list[dict]:
    """Read to the close; check the close code, the error message and the close reason."""
    messages = until_closed(ws)
    assert ws.close_code == code, (ws.close_code, ws.close_reason, messages)
    errors = [m for m in messages if m["type"] == "error"]
    assert len(errors) == 1 and errors[0]["code"] == code and fragment in errors[0]["message"], messages
    assert ws.close_reason and ws.close_reason[:20] == errors[0]["message"][:20]
    return messages


def stream_speech(server, audio, rate=SR, frame_ms=100, **start_fields):
    """Stream ``audio`` as fast as the server answers; returns (messages, partials seen before stop)."""
    with connect(server, {"X-API-Key": API_KEY}) as ws:
        ok = start(ws, rate, **start_fields)
        assert ok["type"] == "start_ok" and ok["sample_rate"] == SR and ok["client_rate"] == rate, ok
        messages, step = [], rate * frame_ms // 1000
        half = len(audio) // 2
        for i in range(0, len(audio), step):
            ws.send(pcm(audio[i: i + step]))
            while True:  # whatever has arrived so far; halfway through, wait for a partial with text
                waiting = i >= half and not any(m["type"] == "partial" and m["text"] for m in messages)
                try:
                    messages.append(json.loads(ws.recv(timeout=20 if waiting else 0)))
                except TimeoutError:
                    break
        before_stop = sum(m["type"] == "partial" for m in messages)
        ws.send(json.dumps({"type": "stop"}))
        messages += until_closed(ws)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    return messages, before_stop


def test_finals_equal_the_library_and_offline_decoding_and_partials_come_first(server, speech, reference):
    finals_ref, offline = reference
    assert len(offline.replace(" ", "")) > 10 and len(finals_ref) == 2  # an endpoint in the gap
    messages, before_stop = stream_speech(server, speech)
    finals = [m for m in messages if m["type"] == "final"]
    assert finals == finals_ref
    assert "".join(f["text"] for f in finals).replace(" ", "") == offline.replace(" ", "")
    assert before_stop >= 1, before_stop  # partial text while the second half was still to come
    partials = [m for m in messages if m["type"] == "partial"]
    assert any(p["text"] for p in partials[:before_stop])
    assert all(m["type"] in ("partial", "final") for m in messages)
    # another rate: resampled on the server, still partials and finals, closed normally
    import soxr

    messages, _ = stream_speech(server, soxr.resample(speech, SR, 22050).astype(np.float32), rate=22050)
    assert [m for m in messages if m["type"] == "final" and m["text"]]
    health = requests.get(f"{server.url}/healthz", timeout=10).json()
    assert health["stream"]["sample_rate"] == SR and health["stream"]["max_streams"] == 2


def test_every_limit_and_malformed_frame_over_a_real_connection(server, speech):
    from websockets.exceptions import ConnectionClosed

    half_second = speech[: SR // 2]

    def send_frames(ws, audio):  # in 0.2 s frames (6400 bytes, under the limit)
        for i in range(0, len(audio), 3200):
            ws.send(pcm(audio[i: i + 3200]))
    # the API key: missing, wrong in the header, wrong in the start message
    with connect(server) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SR, "encoding": "pcm16"}))
        refused(ws, 4401, "missing API key")
    with connect(server, {"X-API-Key": "guess"}) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SR}))
        refused(ws, 4401, "wrong API key")
    with connect(server) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": SR, "api_key": "guess"}))
        refused(ws, 4401, "wrong API key")
    # malformed: not JSON, audio first, odd bytes, wrong encoding, bad rate, unknown type
    cases = [(lambda ws: ws.send("{not json"), 1007, "not JSON"),
             (lambda ws: ws.send(b"\x00\x01" * 10), 1008, "audio before the start"),
             (lambda ws: ws.send(json.dumps({"type": "hello"})), 1003, "first message"),
             (lambda ws: ws.send(json.dumps({"type": "start", "sample_rate": SR, "encoding": "opus",
                                             "api_key": API_KEY})), 1003, "encoding"),
             (lambda ws: ws.send(json.dumps({"type": "start", "sample_rate": "fast", "api_key": API_KEY})), 1007,
              "sample_rate")]
    for send, code, fragment in cases:
        with connect(server) as ws:
            send(ws)
            refused(ws, code, fragment)
    after_start = [(b"\x00" * 101, 1007, "even byte count"), (b"\x00" * 16002, 1009, "16000-byte limit"),
                   (json.dumps({"type": "start", "sample_rate": SR}), 1008, "second start"),
                   (json.dumps({"type": "pause"}), 1003, "unknown message type")]
    for payload, code, fragment in after_start:
        with connect(server) as ws:
            assert start(ws, api_key=API_KEY)["type"] == "start_ok"  # the key in the start message (browsers)
            ws.send(pcm(half_second[:1600]))
            ws.send(payload)
            refused(ws, code, fragment)
    # idle: no start within 1 s; 1 s without a message after audio (the final of what was sent comes first)
    with connect(server) as ws:
        refused(ws, 4408, "no start message within 1 s")
    with connect(server, {"Authorization": f"Bearer {API_KEY}"}) as ws:
        start(ws)
        send_frames(ws, half_second)
        t0 = time.monotonic()
        messages = refused(ws, 4408, "no message for 1 s")
        assert 0.9 < time.monotonic() - t0 < 5 and messages[-2]["type"] == "final"
    # duration: 7 s sent, at most 6 s taken; the finals of those 6 s, then 4413
    with connect(server, {"X-API-Key": API_KEY}) as ws:
        start(ws)
        long = np.tile(speech, 2)[: 7 * SR]
        try:
            for i in range(0, len(long), 3200):
                ws.send(pcm(long[i: i + 3200]))
        except ConnectionClosed:
            pass
        messages = refused(ws, 4413, "6 s limit")
        finals = [m for m in messages if m["type"] == "final"]
        assert finals and finals[-1]["end"] <= 6.0 + 1e-6 and messages[-2]["type"] == "final"
    # concurrent streams: two open, the third refused; once one closes, a new one is served
    with connect(server, {"X-API-Key": API_KEY}) as a, connect(server, {"X-API-Key": API_KEY}) as b:
        assert start(a)["type"] == start(b)["type"] == "start_ok"
        with connect(server, {"X-API-Key": API_KEY}) as c:
            refused(c, 1013, "already holds 2 streams")
        a.send(json.dumps({"type": "stop"}))
        until_closed(a)
        for _ in range(20):  # a's slot frees once its handler has returned, just after the close
            with connect(server, {"X-API-Key": API_KEY}) as d:
                if start(d)["type"] == "start_ok":
                    d.send(json.dumps({"type": "stop"}))
                    until_closed(d)
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("no stream served after one of the two closed")
        send_frames(b, half_second)  # b was not disturbed by the refusals around it
        assert json.loads(b.recv(timeout=10))["type"] == "partial"
        b.send(json.dumps({"type": "stop"}))
        assert until_closed(b)[-1]["type"] == "final" and b.close_code == 1000
    # the replica still serves a whole stream and HTTP
    messages, _ = stream_speech(server, speech)
    assert [m for m in messages if m["type"] == "final" and m["text"]]
    assert requests.get(f"{server.url}/healthz", timeout=10).json()["stream"]["active"] == 0


def test_transcribe_stream_command(server, speech, reference, tmp_path, capsys):
    from ds2ray.cli import main

    finals_ref, _ = reference
    path = tmp_path / "speech.wav"
    sf.write(path, speech, SR, subtype="FLOAT")
    assert main(["transcribe", "--stream", str(path), "--url", server.url, "--api-key", API_KEY, "--pace", "0",
                 "--format", "json"]) == 0
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert [s["text"] for s in body["segments"]] == [f["text"] for f in finals_ref if f["text"]]
    assert body["streamed"] is True and body["partials"] > 0
    assert "partial\t" in err and f"final\t{finals_ref[0]['text']}" in err
    # real-time pace: 0.5 s of audio at 2x takes about 0.25 s
    short = tmp_path / "short.wav"
    sf.write(short, speech[: SR // 2], SR)
    t0 = time.monotonic()
    assert main(["transcribe", "--stream", str(short), "--url", server.url, "--api-key", API_KEY,
                 "--pace", "2"]) == 0
    assert time.monotonic() - t0 >= 0.25
    capsys.readouterr()
    assert main(["transcribe", "--stream", str(short), "--url", server.url, "--api-key", "wrong"]) == 1
    assert "4401" in capsys.readouterr().err


def test_web_page_streams_the_fake_microphone(server, speech, chromium_factory, tmp_path):
    """Headless Chromium: the Stream button streams the fake microphone; partials show while it plays."""
    mic = tmp_path / "mic.wav"
    sf.write(mic, np.concatenate([np.zeros(4800, np.float32), speech, np.zeros(SR, np.float32)]), SR,
             subtype="PCM_16")
    browser = chromium_factory(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                f"--use-file-for-fake-audio-capture={mic}%noloop"])
    browser.open(f"{server.url}/")
    browser.js(f"document.getElementById('apikey').value = {json.dumps(API_KEY)}")
    browser.js("document.getElementById('stream').click()")
    browser.wait_for("document.body.dataset.state === 'streaming'", 10)
    try:
        browser.wait_for("Number(document.body.dataset.partials) > 2", 15)  # while the microphone still plays
    except TimeoutError:
        raise AssertionError(browser.js("document.body.dataset.state + ': ' + "
                                        "document.getElementById('status').textContent")) from None
    live = browser.js("document.getElementById('transcript').textContent")
    assert live, "no partial text on the page"
    browser.js("document.getElementById('stream').click()")  # stop: the last final, then closed
    state = browser.wait_for("['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state",
                             15)
    assert state == "done", browser.js("document.getElementById('status').textContent")
    assert browser.js("document.getElementById('transcript').textContent")
