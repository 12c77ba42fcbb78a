"""``ds2ray serve --stream-decoder beam``: beam search + KenLM on ``/stream``, over a real WebSocket.

The service is built from a :class:`ServeConfig` exactly as a front replica builds it
(:func:`serve.stream.stream_service`), mounted on FastAPI and served by uvicorn (the ASGI server
Serve's proxy runs) on 127.0.0.1, without Ray. Three clients stream at once, so the replica steps
them together (one batched model call, each with its own beam and LM state); each one's finals
must equal the library's streaming beam search on the same PCM, and the LM must change the text.
Which LM a stream beam gets (the served decoder's, a shipped model's, none) is checked apart.
"""

from __future__ import annotations

import asyncio
from itertools import islice

import numpy as np
import pytest

from serve.config import ServeConfig
from serve.stream import stream_decoder_config, stream_service
from serve.stream_client import chunks_of, stream_pcm

from .conftest import two_sentences, websocket_server

SR = 16000
BEAM = dict(beam_width=16, alpha=2.0, beta=0.5)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """Two espeak-ng sentences with 1 s of near-silence between them, as 16-bit PCM would carry them."""
    audio = two_sentences(tmp_path_factory.mktemp("speech"))
    return np.round(np.clip(audio, -1, 32767 / 32768) * 32768).astype(np.int16)


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
    feats = am.extractor(torch.from_numpy(speech.astype(np.float32) / 32768))
    save_checkpoint(folder, am.model, model_config=am.model_config, feature_config=am.feature_config, vocab=am.vocab,
                    normalizer=NormalizerStats(feats.mean(0).numpy(), feats.std(0).numpy(), am.feature_config))
    return folder


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, kenlm_ready) -> str:
    from ds2ray.data.english_text import builtin_sentences
    from ds2ray.testing.lm import build_tiny_lm

    sentences = [*islice(builtin_sentences(), 300), "open the door", "turn on the light"]
    return str(build_tiny_lm(tmp_path_factory.mktemp("lm"), sentences).model_path)


@pytest.fixture(scope="module")
def beam_server(online_checkpoint, tiny_lm):
    """``stream_service`` of a beam config (served decoder: beam with ``tiny_lm``) behind uvicorn."""
    cfg = ServeConfig(checkpoint=online_checkpoint, decoder="beam", lm_path=tiny_lm, stream_checkpoint=online_checkpoint,
                      stream_decoder="beam", stream_max_streams=4, **BEAM)
    service = stream_service(cfg)
    with websocket_server(service) as url:
        yield url, service


def library_finals(checkpoint: str, pcm: np.ndarray, config) -> list[dict]:
    """The library's streaming finals of ``pcm`` with ``config``'s decoder (greedy for ``None``)."""
    from ds2ray.inference.model import load_acoustic_model
    from ds2ray.streaming import StreamingRecognizer, beam_stream_decoder

    am = load_acoustic_model(checkpoint, backend="torch")
    recognizer = StreamingRecognizer(am, decoder=beam_stream_decoder(config) if config is not None else None)
    stream = recognizer.stream()
    events = stream.accept(pcm) + stream.finish()
    return [e.to_dict() for e in events if e.kind == "final"]


def test_beam_and_lm_stream_over_a_websocket(beam_server, online_checkpoint, speech, tiny_lm):
    url, service = beam_server
    config = stream_decoder_config(ServeConfig(checkpoint=online_checkpoint, decoder="beam", lm_path=tiny_lm,
                                               stream_checkpoint=online_checkpoint, stream_decoder="beam", **BEAM))
    assert config.type == "beam" and config.lm_path == tiny_lm and config.beam_width == BEAM["beam_width"]
    expected = library_finals(online_checkpoint, speech, config)
    assert len(expected) == 2 and all(f["text"] for f in expected)  # an endpoint in the gap
    assert [f["text"] for f in expected] != [f["text"] for f in library_finals(online_checkpoint, speech, None)]

    async def three_at_once():
        clips = [speech, speech[: 2 * SR], speech]
        return await asyncio.gather(*(stream_pcm(url, chunks_of(c, SR, ms), SR, timeout=120)
                                      for c, ms in zip(clips, (100, 160, 37))))

    results = asyncio.run(three_at_once())
    for result in (results[0], results[2]):
        assert result.start_ok["decoder"] == "beam" and result.partials > 0
        assert result.finals == expected
    assert results[1].finals == library_finals(online_checkpoint, speech[: 2 * SR], config)
    info = service.info()
    assert info["decoder"] == "beam" and info["active"] == 0
    assert info["mean_batch"] > 1, info  # the three streams were stepped together


def test_which_lm_a_stream_beam_gets(online_checkpoint, tiny_lm):
    from ds2ray.pretrained import get

    base = dict(checkpoint=online_checkpoint, stream_checkpoint=online_checkpoint)
    assert stream_decoder_config(ServeConfig(**base)) is None  # greedy by default
    served = stream_decoder_config(ServeConfig(**base, decoder="beam", lm_path=tiny_lm, stream_decoder="beam"))
    assert served.lm_path == tiny_lm
    # a greedy HTTP decoder over the shipped en model: en's LM and tuned weights
    shipped = stream_decoder_config(ServeConfig(checkpoint="en", stream_checkpoint=online_checkpoint,
                                                stream_decoder="beam"))
    assert shipped == get("en").beam_config() and shipped.lm_path
    # nothing shipped, greedy HTTP: beam search without an LM
    bare = stream_decoder_config(ServeConfig(**base, stream_decoder="beam"))
    assert bare.type == "beam" and bare.lm_path is None
    with pytest.raises(Exception, match="stream_decoder must be 'greedy' or 'beam'"):
        ServeConfig(**base, stream_decoder="viterbi")
