"""``python -m jobs.demo --online`` trains the streaming model: the ``online`` preset (tiny and
unidirectional under ``--quick``), everything else the demo's."""

from __future__ import annotations

from ds2ray.model.config import get_preset
from ds2ray.model.deepspeech2 import DeepSpeech2
from jobs import demo


def load(*argv: str):
    return demo.load_demo(demo.build_parser().parse_args(list(argv)))


def test_online_flag_trains_the_online_preset():
    online, offline = load("--online"), load()
    assert online.model == get_preset("online").model and not online.model.bidirectional
    assert online.features == offline.features and online.train == offline.train
    DeepSpeech2(online.model)  # a buildable network


def test_online_quick_is_the_tiny_model_made_unidirectional():
    quick = load("--online", "--quick")
    assert quick.model == get_preset("tiny").model.replace(bidirectional=False)
