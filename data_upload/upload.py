"""Pack a manifest into tar shards, upload them, verify them, and write the manifests and index last.

Destination layout (see :mod:`ds2ray.data.shards`)::

    DEST/shards/shard-NNNNNN.tar        uploaded first, each verified (size + ETag, or the ETag recomputed from a re-read)
    DEST/.upload-state/shard-NNNNNN.json  receipt written after a shard verified: lets a re-run skip it
    DEST/manifests/shard-NNNNNN.jsonl   }
    DEST/manifest.jsonl                 } written only after every shard verified, index.json last
    DEST/index.json                     }

To S3 a shard is packed straight into its multipart upload (:mod:`data_upload.multipart`: no local
copy, parts leave as they fill); to other destinations it is packed into a local file, then copied.

A run whose plan differs from the plan of an existing ``index.json`` first deletes the old index and
manifests, so no manifest ever points at a shard that is being replaced; an interrupted run leaves
shards and receipts but no manifest, and the next run reuses every shard whose receipt still matches.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ds2ray.config import ConfigBase
from ds2ray.data.manifest import ManifestEntry
from ds2ray.data.shards import ShardIndex, ShardInfo

from data_upload.multipart import S3PartWriter
from data_upload.pack import CHECKS, HashingWriter, PackedShard, cloud_entries, pack_shard, s3_etag_of_stream, write_tar
from data_upload.plan import ShardPlan, Skipped, build_plan, plan_fingerprint
from data_upload.storage import (Destination, RateLimiter, StorageOptions, UploadError, describe_error,
                                 normalize_etag, scrub, with_retries)

log = logging.getLogger(__name__)

SHARD_DIR, MANIFEST_DIR, STATE_DIR = "shards", "manifests", ".upload-state"
INDEX_NAME, MANIFEST_NAME = "index.json", "manifest.jsonl"
VERIFY_MODES = ("auto", "etag", "read")
_SHARD_FILE = re.compile(r"shard-\d{6}\.(tar|json|jsonl)$")


@dataclass(frozen=True)
class UploadConfig(ConfigBase):
    """``ds2ray upload`` settings. Exactly one of ``shard_size`` (bytes) and ``num_shards``.

    Each shard's S3-style ETag (md5 of the file, or of its parts' md5s) is computed while packing;
    ``sha256`` adds a sha256 to the index too (one more pass over the bytes: ~150 MB/s here).
    """

    dest: str
    shard_size: int | None = 256_000_000
    num_shards: int | None = None
    shuffle: bool = False
    seed: int = 0
    endpoint_url: str | None = None
    profile: str | None = None
    jobs: int = 4
    retries: int = 4
    backoff: float = 0.5
    part_size: int = 16 * 2**20
    verify: str = "auto"
    check: str = "decode"
    sha256: bool = False
    limit_rate: float = 0.0
    work_dir: str | None = None

    def __post_init__(self) -> None:
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {self.verify!r}")
        if self.check not in CHECKS:
            raise ValueError(f"check must be one of {CHECKS}, got {self.check!r}")
        if self.part_size < 5 * 2**20:
            raise ValueError(f"part_size must be >= 5 MiB (the S3 minimum), got {self.part_size}")
        if self.jobs < 1 or self.retries < 0:
            raise ValueError("jobs must be >= 1 and retries >= 0")


@dataclass
class UploadReport:
    dest: str
    index_url: str
    manifest_url: str
    num_shards: int
    uploaded: int
    reused: int
    num_samples: int
    num_bytes: int
    uploaded_bytes: int
    seconds: float
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def skipped_entries(self) -> int:
        return sum(s.entries for s in self.skipped)

    def summary(self) -> str:
        rate = self.uploaded_bytes / 1e6 / self.seconds if self.seconds else 0.0
        msg = (f"{self.num_samples} samples in {self.num_shards} shards ({self.num_bytes / 1e6:.1f} MB): "
               f"{self.uploaded} uploaded, {self.reused} already there and verified; "
               f"{self.seconds:.1f} s, {rate:.1f} MB/s uploaded -> {self.manifest_url}")
        if self.skipped:
            msg += f"; {self.skipped_entries} entries left out (unreadable audio, listed in {self.index_url})"
        return msg


class VerificationError(OSError):
    """The uploaded object does not match what was packed (retried: the upload is redone)."""


class Uploader:
    """Runs one upload: plan -> (pack -> upload -> verify -> receipt) per shard, in parallel -> manifests."""

    def __init__(self, cfg: UploadConfig) -> None:
        self.cfg = cfg
        self.dest = Destination(cfg.dest, StorageOptions(cfg.endpoint_url, cfg.profile))
        self.verify_mode = cfg.verify if cfg.verify != "auto" else ("etag" if self.dest.is_s3 else "read")
        self.limiter = RateLimiter(cfg.limit_rate)
        self._receipt_names: set[str] = set()

    # -- the run ------------------------------------------------------------------------------------

    def run(self, entries: Sequence[ManifestEntry]) -> UploadReport:
        start = time.monotonic()
        shards, skipped = build_plan(entries, shard_size=None if self.cfg.num_shards else self.cfg.shard_size,
                                     num_shards=self.cfg.num_shards, shuffle=self.cfg.shuffle, seed=self.cfg.seed)
        for s in skipped:
            log.warning("leaving out %s: %s", s.source, s.reason)
        plan_fp = plan_fingerprint(shards)
        log.info("%d entries -> %d shards at %s", len(entries), len(shards), self.dest.display())
        self.dest.check_writable(f"{STATE_DIR}/.probe")
        self._invalidate_outputs(plan_fp)
        self._receipt_names = set(self.dest.list(STATE_DIR))  # one listing instead of a GET per shard
        if self.cfg.work_dir:
            os.makedirs(self.cfg.work_dir, exist_ok=True)
        work_dir = tempfile.mkdtemp(prefix="ds2ray-upload-", dir=self.cfg.work_dir)
        try:
            receipts, uploaded = self._process_all(shards, work_dir)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        skipped += [Skipped(s["audio_filepath"], s["reason"], s["entries"]) for r in receipts for s in r["skipped"]]
        index = self._write_outputs(shards, receipts, skipped, plan_fp)
        self._remove_stale({s.name for s in shards})
        return UploadReport(self.dest.display(), scrub(self.dest.url(INDEX_NAME)), scrub(self.dest.url(MANIFEST_NAME)),
                            len(index.shards), sum(uploaded), len(shards) - sum(uploaded), index.num_samples,
                            index.num_bytes, sum(r["size"] for r, up in zip(receipts, uploaded) if up),
                            time.monotonic() - start, skipped)

    def _process_all(self, shards: list[ShardPlan], work_dir: str) -> tuple[list[dict], list[bool]]:
        """Receipts checked in parallel; then the shards not there yet: to S3, ``jobs`` shards stream at
        once, each packed straight into its multipart upload (:meth:`_stream_shard`); elsewhere packing
        threads run ahead of ``jobs`` concurrent uploads of packed local files (:meth:`_pack_and_upload`).
        """
        cfg = self.cfg
        results: dict[int, tuple[dict, bool]] = {}
        with cf.ThreadPoolExecutor(cfg.jobs, thread_name_prefix="upload") as up_pool:
            try:
                for shard, receipt in zip(shards, up_pool.map(self._reusable_receipt, shards)):
                    if receipt is not None:
                        results[shard.index] = (receipt, False)
                todo = [s for s in shards if s.index not in results]
                receipts = (self._stream_all(todo, up_pool) if self.dest.is_s3
                            else self._pack_and_upload(todo, work_dir, up_pool))
                for shard, receipt in zip(todo, receipts):
                    results[shard.index] = (receipt, True)
            except BaseException as err:
                up_pool.shutdown(wait=True, cancel_futures=True)
                if isinstance(err, (UploadError, ValueError, KeyboardInterrupt)):
                    raise
                raise describe_error(err, self.dest.display()) from None
        ordered = [results[s.index] for s in shards]
        return [r for r, _ in ordered], [up for _, up in ordered]

    def _stream_all(self, todo: list[ShardPlan], up_pool: cf.ThreadPoolExecutor) -> list[dict]:
        """Receipts of ``todo``, in order; the first failure is raised as soon as it happens."""
        futures = [up_pool.submit(self._stream_shard, shard) for shard in todo]
        for fut in cf.as_completed(futures):
            fut.result()
        return [fut.result() for fut in futures]

    def _stream_shard(self, shard: ShardPlan) -> dict:
        """Pack ``shard`` straight into S3 (no local file), verify it, write its receipt; retried whole."""
        t0 = time.monotonic()
        packed = with_retries(lambda: self._stream_once(shard), f"upload of {shard.name}",
                              retries=self.cfg.retries, backoff=self.cfg.backoff)
        return self._write_receipt(packed, t0, "packed, uploaded and verified")

    def _write_receipt(self, packed: PackedShard, t0: float, what: str) -> dict:
        """Store the receipt of a verified shard (what lets a re-run skip it) and log the rate."""
        receipt = self._receipt(packed.plan, packed)
        self.dest.write_bytes(f"{STATE_DIR}/{packed.plan.name}.json", json.dumps(receipt).encode())
        dt = time.monotonic() - t0
        log.info("%s: %d samples, %.1f MB %s in %.1f s (%.1f MB/s)", packed.plan.name, packed.count,
                 packed.size / 1e6, what, dt, packed.size / 1e6 / max(dt, 1e-9))
        return receipt

    def _stream_once(self, shard: ShardPlan) -> PackedShard:
        rel = f"{SHARD_DIR}/{shard.name}.tar"
        with S3PartWriter(self.dest.fs, self.dest.path(rel), self.cfg.part_size, self.limiter.wait) as remote:
            out = HashingWriter(remote, None, whole=False, sha256=self.cfg.sha256)
            members, skipped = write_tar(shard, out, check=self.cfg.check)
            if members:  # a shard whose audio was all unreadable is not uploaded
                remote.commit()
            else:
                remote.abort()
        packed = PackedShard(shard, "", out.size, remote.md5, out.sha256.hexdigest() if out.sha256 else "",
                             self.cfg.part_size, remote.part_md5s, members, skipped)
        if members:
            self._verify(rel, packed.size, packed.etag())
        return packed

    def _pack_and_upload(self, todo: list[ShardPlan], work_dir: str, up_pool: cf.ThreadPoolExecutor) -> list[dict]:
        """Receipts of ``todo``, in order; the first failure (packing or upload) is raised."""
        cfg = self.cfg
        packers = max(1, min(cfg.jobs, (os.cpu_count() or 2) // 2))
        pack_pool = cf.ThreadPoolExecutor(packers, thread_name_prefix="pack")
        slots = threading.Semaphore(cfg.jobs + packers)
        uploads: list[cf.Future | None] = [None] * len(todo)
        packing: dict[cf.Future, int] = {}
        running: set[cf.Future] = set()
        next_shard = 0
        try:
            while next_shard < len(todo) or packing or running:
                while next_shard < len(todo) and slots.acquire(blocking=False):
                    shard = todo[next_shard]
                    fut = pack_pool.submit(pack_job, shard, os.path.join(work_dir, f"{shard.name}.tar"),
                                           cfg.part_size, cfg.check, cfg.sha256)
                    packing[fut] = next_shard
                    next_shard += 1
                done, _ = cf.wait([*packing, *running], timeout=1.0, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    if fut in packing:
                        i = packing.pop(fut)
                        try:
                            packed = fut.result()
                        except BaseException:
                            slots.release()
                            raise
                        uploads[i] = up_pool.submit(self._upload_packed, packed, slots)
                        running.add(uploads[i])
                    else:
                        running.discard(fut)
                        fut.result()  # raises the upload's error
        finally:
            pack_pool.shutdown(wait=True, cancel_futures=True)
        return [fut.result() for fut in uploads if fut is not None]

    def _reusable_receipt(self, shard: ShardPlan) -> dict | None:
        """The receipt of an earlier upload of this very shard that still verifies, else None."""
        receipt = self._load_receipt(shard)
        if (receipt is not None and receipt["fingerprint"] == shard.fingerprint()
                and receipt.get("part_size") == self.cfg.part_size
                and (receipt["sha256"] or receipt["empty"] or not self.cfg.sha256) and self._still_valid(receipt)):
            log.info("%s: already uploaded and verified, skipping", shard.name)
            return receipt
        return None

    def _upload_packed(self, packed: PackedShard, slots: threading.Semaphore) -> dict:
        """Upload (with retries), verify, write the receipt, free the local file. Returns the receipt."""
        shard = packed.plan
        try:
            t0 = time.monotonic()
            if packed.members:
                self.limiter.wait(packed.size)
                with_retries(lambda: self._upload_and_verify(packed), f"upload of {shard.name}",
                             retries=self.cfg.retries, backoff=self.cfg.backoff)
            return self._write_receipt(packed, t0, "uploaded and verified")
        finally:
            os.unlink(packed.path)
            slots.release()

    # -- one shard ----------------------------------------------------------------------------------

    def _upload_and_verify(self, packed: PackedShard) -> None:
        rel = f"{SHARD_DIR}/{packed.plan.name}.tar"
        fs, path = self.dest.fs, self.dest.path(rel)
        if self.dest.is_s3:
            fs.put_file(packed.path, path, chunksize=self.cfg.part_size)  # multipart from 2 parts up
        else:  # copy then rename, so a reader never sees a half-written shard
            fs.makedirs(self.dest.path(SHARD_DIR), exist_ok=True)
            fs.put_file(packed.path, path + ".partial")
            fs.mv(path + ".partial", path)
        self._verify(rel, packed.size, packed.etag())

    def _verify(self, rel: str, size: int, etag: str) -> None:
        """Check the remote object's size, and its ETag (``etag`` mode, when the store gives one) or the
        ETag recomputed from a full re-read (``read`` mode)."""
        info = self.dest.info(rel)
        if info is None:
            raise VerificationError(f"{rel}: missing right after upload")
        if int(info["size"]) != size:
            raise VerificationError(f"{rel}: remote size {info['size']} != packed size {size}")
        remote_etag = normalize_etag(info.get("ETag"))
        if self.verify_mode == "etag" and remote_etag:
            if remote_etag != etag:
                raise VerificationError(f"{rel}: remote ETag {remote_etag} != expected {etag}")
            return
        with self.dest.fs.open(self.dest.path(rel), "rb", block_size=8 * 2**20) as fh:
            reread = s3_etag_of_stream(fh, size, self.cfg.part_size)
        if reread != etag:
            raise VerificationError(f"{rel}: the re-read object hashes to {reread}, the packed shard to {etag}")

    def _still_valid(self, receipt: dict) -> bool:
        if receipt.get("empty"):
            return True
        try:
            self._verify(f"{SHARD_DIR}/{receipt['name']}.tar", receipt["size"], receipt["etag"])
        except VerificationError as err:
            log.warning("%s: earlier upload no longer verifies (%s); uploading again", receipt["name"], err)
            return False
        return True

    def _receipt(self, shard: ShardPlan, packed: PackedShard) -> dict[str, Any]:
        """What a later run needs to skip this shard and to write its manifests without re-packing."""
        return {"name": shard.name, "fingerprint": shard.fingerprint(), "empty": not packed.members,
                "size": packed.size if packed.members else 0, "etag": packed.etag() if packed.members else "",
                "part_size": self.cfg.part_size, "md5": packed.md5, "sha256": packed.sha256,
                "count": packed.count, "duration": packed.duration, "members": packed.members,
                "skipped": [s.to_dict() for s in packed.skipped]}

    def _load_receipt(self, shard: ShardPlan) -> dict | None:
        if f"{shard.name}.json" not in self._receipt_names:
            return None
        data = self.dest.read_bytes(f"{STATE_DIR}/{shard.name}.json")
        try:
            return json.loads(data) if data else None
        except json.JSONDecodeError:
            return None

    # -- outputs, written last ----------------------------------------------------------------------

    def _invalidate_outputs(self, plan_fp: str) -> None:
        """Delete index and manifests unless they describe this very plan (before any shard changes)."""
        raw = self.dest.read_bytes(INDEX_NAME)
        try:
            same = raw is not None and json.loads(raw).get("plan") == plan_fp
        except json.JSONDecodeError:
            same = False
        if same:
            return
        if raw is not None:
            log.info("the destination holds an upload of a different plan: removing its index and manifests first")
        self.dest.remove(INDEX_NAME)
        self.dest.remove(MANIFEST_NAME)
        for name in self.dest.list(MANIFEST_DIR):
            if _SHARD_FILE.match(name):
                self.dest.remove(f"{MANIFEST_DIR}/{name}")

    def _write_outputs(self, shards: list[ShardPlan], receipts: list[dict], skipped: list[Skipped],
                       plan_fp: str) -> ShardIndex:
        """Per-shard manifests (in parallel), then the cloud manifest, then the index: in that order."""
        done = [(shard, r) for shard, r in zip(shards, receipts) if not r["empty"]]
        urls = [self.dest.url(f"{SHARD_DIR}/{shard.name}.tar") for shard, _ in done]
        lines = [cloud_entries(url, r["members"]) for url, (_, r) in zip(urls, done)]
        rels = [f"{MANIFEST_DIR}/{shard.name}.jsonl" for shard, _ in done]
        with cf.ThreadPoolExecutor(self.cfg.jobs, thread_name_prefix="manifest") as pool:
            list(pool.map(lambda rel, ls: self.dest.write_bytes(rel, _jsonl(ls)), rels, lines))
        self.dest.write_bytes(MANIFEST_NAME, _jsonl([line for ls in lines for line in ls]))
        infos = tuple(ShardInfo(url, r["count"], r["size"], r["sha256"], r["md5"], r["duration"], self.dest.url(rel),
                                r["etag"], r["part_size"]) for url, rel, (_, r) in zip(urls, rels, done))
        index = ShardIndex(infos, self.dest.url(MANIFEST_NAME), tuple(s.to_dict() for s in skipped),
                           {"plan": plan_fp, "created_by": "ds2ray upload"})
        base = self.dest.root if self.dest.is_local else self.dest.url_root
        self.dest.write_bytes(INDEX_NAME, (json.dumps(index.to_dict(base), indent=1, ensure_ascii=False) + "\n").encode())
        return index

    def _remove_stale(self, names: set[str]) -> None:
        """Shards, receipts and shard manifests of an earlier, larger plan (after the new index is written)."""
        for folder in (SHARD_DIR, STATE_DIR, MANIFEST_DIR):
            for name in self.dest.list(folder):
                if _SHARD_FILE.match(name) and name.rsplit(".", 1)[0] not in names:
                    log.info("removing stale %s/%s", folder, name)
                    self.dest.remove(f"{folder}/{name}")


def pack_job(shard: ShardPlan, path: str, part_size: int, check: str, sha256: bool) -> PackedShard:
    """:func:`pack_shard` for a packing thread; local disk trouble becomes an UploadError."""
    try:
        return pack_shard(shard, path, part_size=part_size, check=check, sha256=sha256)
    except OSError as err:
        raise UploadError(f"packing {shard.name} into {os.path.dirname(path)} failed ({type(err).__name__}: "
                          f"{err}); free disk space there or pass --work-dir") from None


def _jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def upload_manifest(entries: Sequence[ManifestEntry], cfg: UploadConfig) -> UploadReport:
    """Library entry point of ``ds2ray upload``; errors are scrubbed of credentials."""
    try:
        return Uploader(cfg).run(entries)
    except (UploadError, ValueError):
        raise
    except (PermissionError, FileNotFoundError, OSError) as err:
        raise UploadError(scrub(str(describe_error(err, scrub(cfg.dest))))) from None
