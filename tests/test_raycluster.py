"""``connect``: no-op when connected, joins an address, else starts a local Ray with ds2ray's settings.

``ray.init`` is replaced by a recorder: nothing here starts Ray.
"""

from __future__ import annotations

import os

import pytest
import ray

from ds2ray.raycluster import LOCAL_RAY_ENV, connect


@pytest.fixture
def init_calls(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    for key in ("RAY_ADDRESS", *LOCAL_RAY_ENV, "DS2RAY_TEST_ENV"):
        monkeypatch.setenv(key, "")  # so monkeypatch restores what connect sets
        monkeypatch.delenv(key)
    return calls


def test_already_connected_is_a_no_op(monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "init", lambda **kwargs: pytest.fail("ray.init called"))
    connect(2, include_dashboard=False)


def test_local_start_takes_the_settings(init_calls, monkeypatch):
    connect(2, num_gpus=1, log_to_driver=False, include_dashboard=False, temp_dir="/tmp/x",
            env={"DS2RAY_TEST_ENV": "0.2"})
    assert init_calls == [{"address": None, "num_cpus": 2, "num_gpus": 1, "log_to_driver": False,
                           "include_dashboard": False, "_temp_dir": "/tmp/x",
                           "runtime_env": {"env_vars": {"DS2RAY_TEST_ENV": "0.2"}}}]
    assert all(os.environ[k] == v for k, v in LOCAL_RAY_ENV.items())  # workers at normal priority
    assert os.environ["DS2RAY_TEST_ENV"] == "0.2"


def test_values_already_set_win(init_calls, monkeypatch):
    monkeypatch.setenv("RAY_worker_niceness", "5")
    monkeypatch.setenv("DS2RAY_TEST_ENV", "1.0")
    connect(env={"DS2RAY_TEST_ENV": "0.2"})
    assert os.environ["RAY_worker_niceness"] == "5"
    assert init_calls[0]["runtime_env"] == {"env_vars": {"DS2RAY_TEST_ENV": "1.0"}}
    assert "include_dashboard" not in init_calls[0] and "logging_level" not in init_calls[0]  # Ray's defaults


@pytest.mark.parametrize("from_env", [True, False])
def test_an_address_joins_that_cluster_with_its_own_settings(init_calls, monkeypatch, from_env):
    if from_env:
        monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    connect(4, num_gpus=1, address=None if from_env else "ray://head:10001", log_to_driver=False,
            include_dashboard=False, logging_level=30, env={"DS2RAY_TEST_ENV": "0.2"})
    assert init_calls == [{"address": "ray://head:10001", "log_to_driver": False, "logging_level": 30}]
    assert "RAY_worker_niceness" not in os.environ
    assert os.environ["DS2RAY_TEST_ENV"] == "0.2"  # this process still gets it


def test_local_address_starts_a_new_local_ray(init_calls, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    connect(1, address="local")
    assert init_calls[0]["address"] == "local" and init_calls[0]["num_cpus"] == 1
