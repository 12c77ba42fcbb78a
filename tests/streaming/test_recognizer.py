"""The streaming recognizer equals offline decoding of the same online model on the same audio:
log-probs within 1e-4 and the same greedy text, for chunks from 10 ms to 1 s (37 ms splits feature
frames); partials come before the end; an endpoint in the quiet gap splits the finals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ds2ray.config import ConfigError
from ds2ray.decode.greedy import GreedyDecoder, greedy_ids
from ds2ray.streaming import EndpointConfig, StreamingRecognizer, pcm_to_float

from .conftest import GAP, SR

NO_ENDPOINTS = EndpointConfig(enabled=False)


def run(recognizer: StreamingRecognizer, audio, chunk: int, **kwargs):
    """Stream ``audio`` in chunks of ``chunk`` samples; returns (stream, events, chunk index per event)."""
    stream = recognizer.stream(**kwargs)
    events, when = [], []
    for i, start in enumerate(range(0, len(audio), chunk)):
        new = stream.accept(audio[start: start + chunk])
        events += new
        when += [i] * len(new)
    final = stream.finish()
    return stream, events + final, when + [None] * len(final)


@pytest.mark.parametrize("chunk_ms", [10, 37, 160, 1000])
def test_streaming_equals_offline(online_model, speech, offline_log_probs, chunk_ms):
    recognizer = StreamingRecognizer(online_model, NO_ENDPOINTS)
    stream, events, _ = run(recognizer, speech, chunk_ms * SR // 1000, keep_log_probs=True)
    assert stream.log_probs.shape == offline_log_probs.shape
    np.testing.assert_allclose(stream.log_probs, offline_log_probs, atol=1e-4, rtol=0)
    offline_text = GreedyDecoder(online_model.vocab).decode(offline_log_probs)
    assert len(offline_text.replace(" ", "")) > 10  # the untrained model spells plenty
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 1 and finals[0].text == offline_text
    assert finals[0].start == 0 and finals[0].end == pytest.approx(len(offline_log_probs) * recognizer.frame_seconds)


def test_partials_arrive_before_the_end_and_grow_into_the_final(online_model, speech):
    recognizer = StreamingRecognizer(online_model, NO_ENDPOINTS)
    _, events, when = run(recognizer, speech, 160 * SR // 1000)
    partials = [e for e, i in zip(events, when) if e.kind == "partial"]
    final = events[-1]
    assert final.kind == "final" and when[-1] is None
    assert len(partials) >= len(speech) // (160 * SR // 1000) - 2  # one per chunk once frames flow
    assert partials[0].end < 0.5 and partials[len(partials) // 2].text  # text long before the end
    ends = [p.end for p in partials]
    assert ends == sorted(ends) and ends[-1] <= final.end
    for p in partials:  # greedy partials only ever grow
        assert final.text.replace(" ", "").startswith(p.text.replace(" ", ""))
    # a frame leaves the model once the lookahead after its start has arrived
    lag = [(i + 1) * 0.16 - p.end for i, p in zip(when, events) if p.kind == "partial"]
    assert max(lag) <= recognizer.lookahead_seconds + 0.16 + recognizer.frame_seconds + 1e-6


def test_an_endpoint_in_the_gap_splits_the_finals_whatever_the_chunking(online_model, speech, offline_log_probs):
    recognizer = StreamingRecognizer(online_model, EndpointConfig(min_trailing_silence=0.5))
    runs = {ms: run(recognizer, speech, ms * SR // 1000, keep_log_probs=True) for ms in (37, 1000)}
    stream, events, _ = runs[37]
    np.testing.assert_allclose(stream.log_probs, offline_log_probs, atol=1e-4, rtol=0)
    finals = [e for e in events if e.kind == "final"]
    assert finals == [e for e in runs[1000][1] if e.kind == "final"]  # same segments, same texts
    assert len(finals) == 2 and [f.segment for f in finals] == [0, 1]
    first, second = finals
    # the first sentence's speech ends where its last 10 ms block above -40 dBFS ends
    blocks = speech[: int(GAP[1] * SR)].reshape(-1, SR // 100)
    loud = np.flatnonzero(np.sqrt((blocks ** 2).mean(axis=1)) >= 0.01)
    quiet_from = (loud[loud < GAP[0] * 100].max() + 1) / 100
    assert 0.8 < quiet_from <= GAP[0]
    # the segment ends at the frames complete 0.5 s into the quiet: one lookahead (and a frame) earlier
    endpoint = quiet_from + 0.5
    assert endpoint - recognizer.lookahead_seconds - 2 * recognizer.frame_seconds <= first.end <= endpoint
    assert second.start == first.end and second.end == pytest.approx(len(offline_log_probs) * recognizer.frame_seconds)
    assert first.text and second.text
    # the segments' labels, joined, are offline greedy's labels
    ids = greedy_ids(torch.from_numpy(offline_log_probs)[None])[0]
    assert (first.text + second.text).replace(" ", "") == online_model.vocab.decode(ids).replace(" ", "")
    assert all(first.start <= w.start <= w.end <= first.end + 1e-9 for w in first.words)
    assert all(second.start <= w.start <= w.end <= second.end + 1e-9 for w in second.words)
    assert {e.segment for e in events if e.kind == "partial"} == {0, 1}


def test_int16_and_pcm16_bytes_equal_float_input(online_model, speech):
    recognizer = StreamingRecognizer(online_model, NO_ENDPOINTS)
    pcm = np.clip(np.round(speech[:SR] * 32768), -32768, 32767).astype(np.int16)
    as_float = run(recognizer, pcm.astype(np.float32) / 32768, 2000, keep_log_probs=True)[0].log_probs
    as_int = run(recognizer, pcm, 2000, keep_log_probs=True)[0].log_probs
    stream = recognizer.stream(keep_log_probs=True)
    for start in range(0, len(pcm), 1111):
        stream.accept(pcm[start: start + 1111].tobytes())
    stream.finish()
    np.testing.assert_array_equal(as_int, as_float)
    np.testing.assert_allclose(stream.log_probs, as_float, atol=1e-5, rtol=0)  # other chunks: float rounding


def test_bad_input_is_refused_with_a_reason(online_model, tmp_path):
    from ds2ray.inference.model import load_acoustic_model
    from ds2ray.testing.checkpoints import make_untrained_checkpoint

    with pytest.raises(ConfigError, match="unidirectional"):
        StreamingRecognizer(load_acoustic_model(make_untrained_checkpoint(str(tmp_path / "bi"))))
    recognizer = StreamingRecognizer(online_model)
    with pytest.raises(ConfigError, match="resample"):
        recognizer.stream(sample_rate=8000)
    with pytest.raises(ValueError, match="even byte count"):
        pcm_to_float(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="mono"):
        pcm_to_float(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match="int16 PCM or float"):
        pcm_to_float(np.zeros(10, np.int32))
    stream = recognizer.stream()
    stream.finish()
    with pytest.raises(RuntimeError, match="new stream"):
        stream.accept(np.zeros(100, np.float32))


def test_a_beam_decoder_plugs_in_and_equals_offline_beam(online_model, speech, offline_log_probs):
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.decode.beam import BeamSearchDecoder
    from ds2ray.streaming import beam_stream_decoder

    config = DecoderConfig(type="beam", beam_width=8)
    recognizer = StreamingRecognizer(online_model, NO_ENDPOINTS, decoder=beam_stream_decoder(config))
    _, events, _ = run(recognizer, speech, 4000)
    assert events[-1].kind == "final" and events[-1].text
    assert events[-1].text == BeamSearchDecoder(online_model.vocab, config).decode(offline_log_probs)


def test_streams_stepped_together_equal_offline(online_model, speech, offline_log_probs):
    """accept_many (a server's tick: every stream's new audio, one model call) gives each stream the
    log-probs and finals of streaming it alone, whatever each stream's chunking."""
    recognizer = StreamingRecognizer(online_model, EndpointConfig(min_trailing_silence=0.5))
    alone = run(recognizer, speech, 1000 * SR // 1000)[1]
    audios = [speech, speech[: 2 * SR], np.zeros(SR // 2, np.float32)]  # a short one and one of silence
    chunks = [37 * SR // 1000, 160 * SR // 1000, 100 * SR // 1000]
    streams = [recognizer.stream(keep_log_probs=True) for _ in audios]
    events: list[list] = [[] for _ in audios]
    for step in range(len(speech) // chunks[0] + 2):
        pieces = [a[step * c: (step + 1) * c] for a, c in zip(audios, chunks)]
        for got, new in zip(events, recognizer.accept_many(streams, pieces)):
            got += new
    for stream, got in zip(streams, events):
        got += stream.finish()
    np.testing.assert_allclose(streams[0].log_probs, offline_log_probs, atol=1e-4, rtol=0)
    assert [e for e in events[0] if e.kind == "final"] == [e for e in alone if e.kind == "final"]
    short = recognizer.stream(keep_log_probs=True)
    short.accept(speech[: 2 * SR])
    short.finish()
    np.testing.assert_allclose(streams[1].log_probs, short.log_probs, atol=1e-4, rtol=0)
    assert [e.kind for e in events[2]][-1] == "final"
    with pytest.raises(ValueError, match="appears twice"):
        recognizer.accept_many([streams[0], streams[0]], [speech[:10], speech[:10]])
    with pytest.raises(ValueError, match="another recognizer"):
        StreamingRecognizer(online_model).accept_many(streams[:1], [speech[:10]])
