"""What the builders share (:mod:`ds2ray.data.corpora.common`): speaker-disjoint splits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ds2ray.data.corpora.common import Utterance, split_by_speaker


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=3, max_size=12), dev=st.floats(0.0, 0.45),
       test=st.floats(0.0, 0.45), seed=st.integers(0, 3))
def test_speaker_split_is_disjoint_complete_and_deterministic(sizes, dev, test, seed):
    utts = [Utterance(f"s{s}_{i}.wav", "x", speaker=f"s{s}") for s, n in enumerate(sizes) for i in range(n)]
    fractions = {"dev": dev, "test": test}
    out = split_by_speaker(utts, fractions, seed=seed)
    assert out == split_by_speaker(utts, fractions, seed=seed)
    assert sorted(u.audio_path for us in out.values() for u in us) == sorted(u.audio_path for u in utts)
    speakers = {name: {u.speaker for u in us} for name, us in out.items()}
    names = list(speakers)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not speakers[a] & speakers[b]
    assert out["train"]
    for name, frac in fractions.items():
        assert (name in out and len(out[name]) > 0) == (frac > 0)
