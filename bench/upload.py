"""Benchmark ``ds2ray upload`` and shard reading against a local moto_server (S3 protocol on 127.0.0.1).

Measured in one run:
* upload throughput of the whole pipeline (plan, read + check audio, pack, hash, upload, verify,
  receipts, manifests) against a raw s3fs ``put`` of the same shard bytes with the same part size
  (target ratio >= 0.8);
* read throughput: local files via ``load_audio`` vs the cloud manifest (ranged GETs per member) vs the
  streaming reader (whole shards, sequential) from S3 and from its local cache.

Prints a table and writes ``bench/results/upload.json``. Timings are noisy on a shared machine: the
load average is recorded with the results, and so are the CPU seconds each upload cost (this process
plus the moto_server process), which do not depend on the load: on a CPU-bound machine (2 cores,
the S3 server on the same host) their ratio is what the wall-clock ratio tends to.

    python bench/upload.py [--megabytes 128] [--shard-size 16MB] [--jobs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_moto() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def make_corpus(root: Path, megabytes: float, seconds: float = 5.0) -> Path:
    """16 kHz 16-bit WAV clips of ``seconds`` each, ``megabytes`` in total, and their manifest."""
    from ds2ray.testing.signals import noise, write_audio

    per_file = int(seconds * 16000 * 2)
    n = max(1, int(megabytes * 1e6 / per_file))
    lines = []
    for i in range(n):
        path = write_audio(root / "audio" / f"clip{i:05d}.wav", noise(seconds, 16000, seed=i), 16000)
        lines.append(json.dumps({"audio_filepath": str(path), "duration": seconds, "text": f"clip {i}"}))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def bench_upload(manifest: Path, endpoint: str, server_pid: int, args, work: Path) -> dict:
    import s3fs

    from data_upload.pack import pack_shard
    from data_upload.plan import build_plan, parse_size
    from data_upload.upload import UploadConfig, upload_manifest
    from ds2ray.data.manifest import read_manifest

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    fs.mkdir("bench")
    entries = read_manifest(manifest).entries
    cfg = UploadConfig(dest="s3://bench/ours", shard_size=parse_size(args.shard_size), jobs=args.jobs,
                       part_size=parse_size(args.part_size))
    # the same shard bytes, packed beforehand, for the raw put
    shards, _ = build_plan(entries, shard_size=cfg.shard_size)
    raw_dir = work / "raw"
    raw_dir.mkdir()
    local = [pack_shard(s, str(raw_dir / f"{s.name}.tar"), part_size=cfg.part_size).path for s in shards]
    nbytes = sum(os.path.getsize(p) for p in local)

    def cpu() -> tuple[float, float]:  # (this process, the server) CPU seconds: load-independent cost
        return time.process_time(), process_cpu_s(server_pid)

    def run_ours(attempt: int) -> None:
        t0, c0 = time.perf_counter(), cpu()
        report = upload_manifest(entries, cfg.replace(dest=f"s3://bench/ours{attempt}"))
        ours.append(time.perf_counter() - t0)
        ours_cpu.append([b - a for a, b in zip(c0, cpu())])
        assert report.uploaded == len(shards) and report.num_bytes == nbytes, report.summary()

    def run_raw(attempt: int) -> None:
        t0, c0 = time.perf_counter(), cpu()
        # same transfer settings as ours: multipart with the same part size from two parts up
        fs.put(local, [f"bench/raw{attempt}/{Path(p).name}" for p in local], chunksize=cfg.part_size)
        raw.append(time.perf_counter() - t0)
        raw_cpu.append([b - a for a, b in zip(c0, cpu())])

    ours, raw, ours_cpu, raw_cpu = [], [], [], []
    fs.put(local[:1], ["bench/warmup/x.tar"])  # the first request to a fresh server is slow
    for attempt in range(args.repeats):  # interleaved, alternating which goes first; best of each
        for run in ((run_ours, run_raw) if attempt % 2 == 0 else (run_raw, run_ours)):
            run(attempt)
    ours_c, raw_c = (min(sum(c) for c in runs) for runs in (ours_cpu, raw_cpu))
    return {"bytes": nbytes, "shards": len(shards), "samples": len(entries),
            "ours_cpu_s": ours_c, "raw_cpu_s": raw_c, "cpu_ratio": raw_c / ours_c,
            "ours_cpu_client_server_s": ours_cpu, "raw_cpu_client_server_s": raw_cpu,
            "ours_s": min(ours), "raw_put_s": min(raw), "ours_all_s": ours, "raw_all_s": raw,
            "ours_MBps": nbytes / 1e6 / min(ours), "raw_put_MBps": nbytes / 1e6 / min(raw),
            "ratio": min(raw) / min(ours), "dest": "s3://bench/ours0"}


def bench_read(manifest: Path, dest: str, work: Path) -> dict:
    from ds2ray.data.audio import load_audio
    from ds2ray.data.manifest import read_manifest
    from ds2ray.data.shard_stream import ShardStreamDataset

    def timed(name: str, samples) -> tuple[str, dict]:
        t0 = time.perf_counter()
        n = audio = 0
        for wave in samples:
            n += 1
            audio += len(wave) / 16000
        dt = time.perf_counter() - t0
        return name, {"samples": n, "seconds": dt, "samples_per_s": n / dt, "audio_s_per_s": audio / dt}

    local = read_manifest(manifest)
    cloud = read_manifest(f"{dest}/manifest.jsonl")
    cache = work / "cache"
    stream = ShardStreamDataset.from_index(f"{dest}/index.json", shuffle=True, shuffle_buffer=64,
                                           balance="pad", cache_dir=str(cache))
    results = dict([
        timed("local files, load_audio", (load_audio(e.audio_filepath) for e in local)),
        timed("S3 cloud manifest, load_audio (ranged GET)", (load_audio(e.audio_filepath) for e in cloud)),
        timed("S3 shards, streaming (1st epoch, fills cache)", (s.audio for s in stream)),
    ])
    stream.set_epoch(1)
    results.update([timed("local cache, streaming (2nd epoch)", (s.audio for s in stream))])
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--megabytes", type=float, default=128, help="corpus size (16 kHz WAV, 5 s clips)")
    p.add_argument("--shard-size", default="16MB", help="shard size for the upload")
    p.add_argument("--part-size", default="5MiB", help="multipart part size (16MB shards -> 4 parts, like 256MB / 16MiB)")
    p.add_argument("--jobs", type=int, default=4, help="shards uploaded at once")
    p.add_argument("--repeats", type=int, default=3, help="upload repetitions (best of each is kept)")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "upload.json"), help="results JSON")
    args = p.parse_args()

    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    work = Path(tempfile.mkdtemp(prefix="ds2ray-bench-upload-"))
    proc, endpoint = start_moto()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        t0 = time.perf_counter()
        manifest = make_corpus(work / "corpus", args.megabytes)
        print(f"corpus: {args.megabytes:.0f} MB of WAV in {time.perf_counter() - t0:.1f} s", flush=True)
        up = bench_upload(manifest, endpoint, proc.pid, args, work)
        read = bench_read(manifest, up["dest"], work)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nupload of {up['bytes'] / 1e6:.1f} MB in {up['shards']} shards ({up['samples']} clips), "
          f"moto_server on 127.0.0.1, jobs={args.jobs}, part size {args.part_size}")
    print(f"{'':44s} {'seconds':>8s} {'MB/s':>8s}")
    print(f"{'ds2ray upload (pack+check+upload+verify)':44s} {up['ours_s']:8.2f} {up['ours_MBps']:8.1f}")
    print(f"{'raw s3fs put of the same shard bytes':44s} {up['raw_put_s']:8.2f} {up['raw_put_MBps']:8.1f}")
    print(f"{'ratio (target >= 0.8)':44s} {up['ratio']:8.2f}")
    print(f"CPU seconds (client + server), load-independent: ours {up['ours_cpu_s']:.2f}, raw put "
          f"{up['raw_cpu_s']:.2f} -> ratio when CPU-bound {up['cpu_ratio']:.2f}")
    print(f"\n{'read path':48s} {'samples/s':>10s} {'audio-s/s':>10s}")
    for name, r in read.items():
        print(f"{name:48s} {r['samples_per_s']:10.1f} {r['audio_s_per_s']:10.1f}")
    result = {"upload": up, "read": read, "config": vars(args),
              "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg(), "python": platform.python_version()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
