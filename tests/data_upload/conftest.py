"""Real S3-protocol servers on 127.0.0.1 (moto_server), one bucket per test, and a tiny audio corpus.

* ``moto_endpoint``: one plain moto_server for the session (moto does not check signatures).
* ``auth_s3``: a second moto_server with IAM auth on (``INITIAL_NO_AUTH_ACTION_COUNT``): it checks
  access keys and SigV4 signatures, so wrong credentials are really rejected. The first three actions
  (create user, access key, policy) run before auth starts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
KEY_ID, SECRET = "AKIATESTKEYID0000001", "test-secret-do-not-print-3f9c"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_moto(extra_env: dict[str, str] | None = None):
    if not MOTO_SERVER.exists():
        pytest.fail(f"{MOTO_SERVER} missing: install the dev extra (pip install -e '.[dev]')")
    port = _free_port()
    proc = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(extra_env or {})})
    deadline = time.monotonic() + 30
    while True:  # a socket probe, not an HTTP request: requests would count as auth-free actions
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto_server did not start on port {port}")
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def moto_endpoint():
    proc, url = _start_moto()
    yield url
    _stop(proc)


@pytest.fixture(scope="session")
def aws_session_env(moto_endpoint):
    """The moto endpoint and credentials in this process's environment for the whole session, so a
    local Ray started after it (the ``ray_session`` fixture) hands them to its workers."""
    values = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield values
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@dataclass
class S3:
    endpoint: str
    bucket: str
    fs: object

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"


def _clear_s3fs_cache() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3(moto_endpoint, monkeypatch) -> S3:
    """A fresh bucket on the session moto_server; credentials and endpoint in the environment."""
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    _clear_s3fs_cache()
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto_endpoint})
    fs.mkdir(bucket)
    yield S3(moto_endpoint, bucket, fs)
    _clear_s3fs_cache()


@dataclass
class AuthS3:
    endpoint: str
    key_id: str
    secret: str


@pytest.fixture(scope="session")
def auth_s3():
    """A moto_server that checks credentials and signatures, with one IAM user allowed everything."""
    import boto3

    proc, url = _start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="uploader")
    key = iam.create_access_key(UserName="uploader")["AccessKey"]
    iam.put_user_policy(UserName="uploader", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    yield AuthS3(url, key["AccessKeyId"], key["SecretAccessKey"])
    _stop(proc)


@dataclass
class Corpus:
    root: Path
    manifest: Path
    #: texts of entries whose audio is readable (the bad file's entry is not among them)
    good_texts: list[str]
    bad_audio: Path


def make_corpus(root: Path, n: int = 12, seconds: float = 0.4, bad: bool = True) -> Corpus:
    """``n`` short clips (WAV/FLAC mix, 16 and 8 kHz), one file with two segment entries, one corrupt file."""
    from ds2ray.testing.signals import speechlike, write_audio

    lines, texts = [], []
    for i in range(n):
        ext, rate = (".wav", 16000) if i % 3 else (".flac", 8000)
        dur = seconds + 0.05 * (i % 4)
        path = write_audio(root / "audio" / f"utt{i:02d}{ext}", speechlike(dur, rate, seed=i), rate)
        lines.append({"audio_filepath": str(path.relative_to(root)), "duration": dur, "text": f"utterance {i}",
                      "speaker": f"spk{i % 3}"})
        texts.append(f"utterance {i}")
    write_audio(root / "audio" / "long.wav", speechlike(1.2, 16000, seed=99), 16000)
    lines += [{"audio_filepath": "audio/long.wav", "duration": 0.5, "offset": 0.0, "text": "segment a"},
              {"audio_filepath": "audio/long.wav", "duration": 0.6, "offset": 0.55, "text": "segment b"}]
    texts += ["segment a", "segment b"]
    bad_audio = root / "audio" / "corrupt.wav"
    if bad:
        bad_audio.write_bytes(b"RIFF\x24\x00\x00\x00WAVEthis is not audio")
        lines.append({"audio_filepath": "audio/corrupt.wav", "duration": 1.0, "text": "corrupt"})
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return Corpus(root, manifest, texts, bad_audio)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(name="make_corpus")
def make_corpus_fixture():
    """The corpus builder itself, for tests that need their own (``make_corpus(root, n=, bad=)``)."""
    return make_corpus
