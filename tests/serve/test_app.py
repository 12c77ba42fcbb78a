"""The model deployment's class in-process (no Ray): greedy and KenLM beam decoding, tuned alpha/beta."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ds2ray.testing.lm import write_bigram_arpa
from serve.app import Clip, Transcriber
from serve.config import ServeConfig


@pytest.fixture
def keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def replica(config: ServeConfig) -> Transcriber:
    return Transcriber.func_or_class(config.resolved({}).to_dict())  # the class behind the deployment


@pytest.mark.usefixtures("keep_torch_threads")
def test_greedy_and_beam_replicas_transcribe_and_report_their_decoder(overfit_model, tmp_path):
    lm = write_bigram_arpa(tmp_path / "words.arpa", overfit_model.texts)
    tuned = tmp_path / "best.json"
    tuned.write_text(json.dumps({"alpha": 0.7, "beta": 1.2, "wer": 0.0}))
    clips = [Clip(w, 16000) for w in overfit_model.waves]

    greedy = replica(ServeConfig(checkpoint=overfit_model.checkpoint))
    assert greedy.info()["decoder"] == "greedy" and greedy.info()["alpha"] is None
    out = greedy._run(clips)
    assert [o["text"] for o in out] == list(overfit_model.texts)
    for o in out:  # each word timed, in order, inside its clip
        assert " ".join(w["word"] for w in o["words"]) == o["text"]
        ends = [0.0] + [t for w in o["words"] for t in (w["start"], w["end"])]
        assert ends == sorted(ends) and ends[-1] <= o["batch_audio_s"]
    assert {o["batch_size"] for o in out} == {3} and out[0]["batch_audio_s"] == pytest.approx(
        sum(len(w) for w in overfit_model.waves) / 16000, abs=1e-3)

    beam = replica(ServeConfig(checkpoint=overfit_model.checkpoint, decoder="beam", lm_path=lm, tuned=str(tuned),
                               beam_width=16))
    info = beam.info()
    assert (info["decoder"], info["alpha"], info["beta"], info["lm"]) == ("beam", 0.7, 1.2, lm)
    beam_out = beam._run(clips)
    assert [o["text"] for o in beam_out] == list(overfit_model.texts)
    assert [" ".join(w["word"] for w in o["words"]) for o in beam_out] == list(overfit_model.texts)
    assert (beam.decoder.config.lm_path, beam.decoder.config.alpha, beam.decoder.config.beam_width) == (lm, 0.7, 16)


@pytest.mark.usefixtures("keep_torch_threads")
def test_replica_refuses_clips_at_the_wrong_rate(overfit_model):
    import asyncio

    rep = replica(ServeConfig(checkpoint=overfit_model.checkpoint, batching=False))
    with pytest.raises(ValueError, match="model wants 16000 Hz"):
        asyncio.run(rep.transcribe(Clip(np.zeros(8000, np.float32), 8000)))
    result = asyncio.run(rep.transcribe(Clip(overfit_model.waves[0], 16000)))  # unbatched path
    assert result["text"] == overfit_model.texts[0] and result["batch_size"] == 1


@pytest.mark.usefixtures("keep_torch_threads")
def test_each_clip_is_decoded_with_its_own_hotwords(overfit_model):
    """Clips of one batch carry their request's hotwords: a clip with a heavy hotword decodes as the
    library's beam search does with it, and the clips without keep the server's plain text."""
    beam = replica(ServeConfig(checkpoint=overfit_model.checkpoint, decoder="beam", beam_width=16))
    plain = [o["text"] for o in beam._run([Clip(w, 16000) for w in overfit_model.waves])]
    assert plain == list(overfit_model.texts)
    hot = (("gale", 40.0),)
    clips = [Clip(overfit_model.waves[0], 16000, 0.0, hot), *(Clip(w, 16000) for w in overfit_model.waves[1:])]
    out = [o["text"] for o in beam._run(clips)]
    expected = beam.decoder.decode(beam.model.log_probs([overfit_model.waves[0]])[0], hotwords=hot)
    assert out[0] == expected != plain[0]  # the boost changed this clip's text ...
    assert out[1:] == plain[1:]  # ... and nothing else in its batch


@pytest.mark.usefixtures("keep_torch_threads")
def test_a_lone_request_does_not_wait_for_a_batch_but_requests_under_load_do(overfit_model):
    """batch_wait_s is spent only when other requests may join: a clip reaching an idle replica starts its batch
    at once; one arriving while others are in flight, or right after a batch (as under load), waits.
    (``@serve.batch`` runs only inside a replica: the HTTP tests check that concurrent requests batch.)"""
    import time

    wait = 0.5
    rep = replica(ServeConfig(checkpoint=overfit_model.checkpoint, batch_wait_s=wait))
    assert rep._batch_wait_s() == 0.0  # idle since start-up
    rep._waiting = 2
    assert rep._batch_wait_s() == wait  # others queued: wait for them
    rep._waiting = 0
    rep._idle_since = time.monotonic()  # a batch just ended: more are likely on their way
    assert rep._batch_wait_s() == wait
    rep._idle_since = time.monotonic() - 2 * wait  # idle for longer than the wait: nobody to wait for
    assert rep._batch_wait_s() == 0.0
    assert replica(ServeConfig(checkpoint=overfit_model.checkpoint, batch_wait_s=0))._batch_wait_s() == 0.0


@pytest.mark.usefixtures("keep_torch_threads")
def test_solo_threads_take_lone_clips_and_batches_keep_model_threads(overfit_model, tmp_path):
    """solo_threads: a lone clip runs on a session with more threads, a batch (or a clip with others in
    flight) on the replica's own; the text is the same either way (onnx here, torch sets its thread count)."""
    from ds2ray.inference.export import export_onnx

    onnx_path = export_onnx(overfit_model.checkpoint, str(tmp_path / "overfit.onnx")).path
    rep = replica(ServeConfig(checkpoint=onnx_path, num_cpus=1, solo_threads=2))
    assert rep.solo_model is not rep.model
    assert rep.solo_model.session.get_session_options().intra_op_num_threads == 2
    assert rep.model.session.get_session_options().intra_op_num_threads == 1
    clips = [Clip(w, 16000) for w in overfit_model.waves]
    lone = rep._run(clips[:1])
    assert lone[0]["text"] == overfit_model.texts[0]
    solo, rep.solo_model = rep.solo_model, None  # from here on a lone clip would fail: batches must not need it
    assert [o["text"] for o in rep._run(clips)] == list(overfit_model.texts)
    rep._waiting = 2  # another request in flight: not alone
    assert rep._run(clips[:1])[0]["text"] == overfit_model.texts[0]
    rep._waiting = 0
    with pytest.raises(AttributeError):
        rep._run(clips[:1])
    rep.solo_model = solo

    torch_rep = replica(ServeConfig(checkpoint=overfit_model.checkpoint, num_cpus=1, solo_threads=2))
    assert torch_rep.solo_model is torch_rep.model and torch_rep.solo_threads == 2
    assert torch_rep._run(clips[:1])[0]["text"] == overfit_model.texts[0]
    assert torch.get_num_threads() == 1  # restored after the lone clip
