"""``ds2ray prepare voxforge``: VoxForge English, read speech from thousands of volunteers.

The corpus is one ``.tgz`` per recording session, listed on the repository's index page (the
seed's ``data/voxforge/voxforge.py`` used the same 16 kHz/16 bit folder). Each archive unpacks to::

    <user>-<date>-<id>/etc/PROMPTS      # "<user>-<date>-<id>/mfc/<utt> TEXT" lines
    <user>-<date>-<id>/etc/README       # "Pronunciation dialect: American English", ...
    <user>-<date>-<id>/wav/<utt>.wav    # (older sessions: flac/<utt>.flac)

The index publishes no checksums, so archives are checked by extracting them: a truncated or
corrupt one is deleted, counted and reported, and the others go on. ``--source-dir`` reads folders
already extracted. Writes one manifest (``manifest.all.jsonl``), or speaker-disjoint
``train/dev/test`` manifests with ``--dev-fraction``/``--test-fraction``. The session's user name is
the speaker (every ``anonymous`` session counts as its own speaker).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

from ds2ray.data.corpora import Corpus, common
from ds2ray.data.corpora.flags import CorpusOptions, check, option

log = logging.getLogger(__name__)

HELP = "VoxForge English (per-session .tgz archives): download or read extracted sessions; one manifest"

BASE_URL = "http://www.repository.voxforge1.org/downloads/SpeechCorpus/Trunk/Audio/Main/16kHz_16bit/"
_DIALECT = re.compile(r"pronunciation\s+dialect\s*:\s*(.+)", re.IGNORECASE)


@dataclass(frozen=True)
class VoxForgeOptions(CorpusOptions):
    """``ds2ray prepare voxforge`` flags; ``source`` (``--data-dir``) is where archives go."""

    num_workers: int = common.num_workers_option()
    source_dir: str | None = common.source_dir_option(
        "VoxForge", "one folder per session with etc/PROMPTS and wav/ or flac/")
    remove_archives: bool = common.remove_archives_option()
    base_url: str = option(BASE_URL, "index page listing the session .tgz archives")
    max_archives: int | None = option(
        None, "download only the first N archives of the index (sorted by name), for a quick sample")
    dialects: tuple[str, ...] | None = option(
        None, "keep sessions whose README 'Pronunciation dialect' contains one of these words "
              "(e.g. american british indian); default: all", metavar="DIALECT")
    dev_fraction: float = option(
        0.0, "share of utterances for a speaker-disjoint dev split (default 0: one manifest)")
    test_fraction: float = option(
        0.0, "share of utterances for a speaker-disjoint test split (default 0: one manifest)")
    seed: int = option(0, "seed of the speaker split")
    retries: int = option(3, "download attempts per archive after the first")

    def validate(self) -> None:
        common.check_num_workers(self)
        check(self.max_archives is None or self.max_archives >= 1, self, "max_archives", "must be >= 1")
        common.check_fraction(self, "dev_fraction")
        common.check_fraction(self, "test_fraction")
        check(self.retries >= 0, self, "retries", "must be >= 0")


def prepare_voxforge(out_dir: Path, source: Path | None, options: VoxForgeOptions, *,
                     overwrite: bool = False) -> dict[str, Path]:
    """``manifest.all.jsonl`` or speaker-disjoint ``train/dev/test``; ``source``: where archives are
    downloaded and extracted (default ``out_dir``), unless ``options.source_dir`` names extracted
    sessions."""
    data_dir = common.download_dir(out_dir, source, options.source_dir)
    split_names = _split_names(options.dev_fraction, options.test_fraction)
    todo = common.pending_splits(out_dir, split_names, overwrite)
    if options.source_dir:
        sessions_root = common.require_dir(options.source_dir, "VoxForge folder")
    else:
        sessions_root = data_dir / "audio"
        if todo:
            fetch_sessions(options.base_url, data_dir, max_archives=options.max_archives,
                           num_workers=options.num_workers, retries=options.retries,
                           remove_archives=options.remove_archives)
    cache: dict[str, list[common.Utterance]] = {}

    def split(name: str) -> list[common.Utterance]:
        if not cache:
            utts = collect(sessions_root, dialects=list(options.dialects) if options.dialects else None)
            cache.update(common.split_by_speaker(
                utts, {"dev": options.dev_fraction, "test": options.test_fraction}, seed=options.seed,
                train_name="all" if split_names == ["all"] else "train"))
        return cache[name]

    return common.run_splits(out_dir, {s: (lambda s=s: split(s)) for s in split_names},
                             overwrite=overwrite, num_workers=options.num_workers)


def _split_names(dev: float, test: float) -> list[str]:
    if dev <= 0 and test <= 0:
        return ["all"]
    return ["train"] + [n for n, f in (("dev", dev), ("test", test)) if f > 0]


# --------------------------------------------------------------------------- download
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag.lower() == "a":
            self.hrefs.extend(v for k, v in attrs if k.lower() == "href" and v)


def parse_index(html: str, base_url: str) -> list[str]:
    """Absolute URLs of the ``.tgz`` links on an index page, de-duplicated and sorted by name."""
    parser = _Links()
    parser.feed(html)
    urls = {urljoin(base_url, h) for h in parser.hrefs if h.split("?")[0].lower().endswith(".tgz")}
    return sorted(urls, key=lambda u: u.rsplit("/", 1)[-1])


def list_archives(base_url: str, timeout: float = 60.0) -> list[str]:
    import requests

    base_url = base_url if base_url.endswith("/") else base_url + "/"
    try:
        resp = requests.get(base_url, timeout=timeout)
        resp.raise_for_status()
    except requests.RequestException as err:
        raise RuntimeError(f"cannot read the VoxForge index {base_url}: {err}. Check --base-url "
                           "or the network.") from err
    urls = parse_index(resp.text, base_url)
    if not urls:
        raise RuntimeError(f"no .tgz archives listed at {base_url}; check --base-url")
    return urls


def fetch_sessions(base_url: str, data_dir: Path, *, max_archives: int | None = None, num_workers: int = 4,
                   retries: int = 3, remove_archives: bool = False) -> tuple[int, list[str]]:
    """Download the listed archives into ``data_dir/downloads`` and extract them into
    ``data_dir/audio``, in parallel.

    Returns ``(number extracted, failures as "url: reason")``. Failures are logged, not fatal,
    unless every archive failed.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    from ds2ray.data.corpora.download import DownloadError, Resource, UnsafeArchiveError, download_and_extract

    urls = list_archives(base_url)
    if max_archives is not None:
        urls = urls[:max_archives]
    tgz_dir, audio_dir = data_dir / "downloads", data_dir / "audio"

    def one(url: str) -> str | None:
        try:
            download_and_extract(Resource(url), tgz_dir, audio_dir, remove_archive=remove_archives,
                                 progress=False, retries=retries)
        except (DownloadError, UnsafeArchiveError, RuntimeError) as err:
            (tgz_dir / Resource(url).filename).unlink(missing_ok=True)  # corrupt: fetch afresh next time
            return f"{url}: {err}"
        return None

    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        results = list(tqdm(pool.map(one, urls), total=len(urls), desc="voxforge archives", unit="archive",
                            disable=None))
    failures = [r for r in results if r]
    for f in failures[:10]:
        log.warning("skipped archive %s", f)
    if failures:
        log.warning("%d of %d VoxForge archives failed (deleted); re-run with --overwrite to retry them",
                    len(failures), len(urls))
    if len(failures) == len(urls):
        raise RuntimeError(f"every VoxForge archive failed, e.g. {failures[0]}")
    return len(urls) - len(failures), failures


# --------------------------------------------------------------------------- manifest
def _child(folder: Path, name: str) -> Path | None:
    """``folder/name`` matched case-insensitively (VoxForge mixes PROMPTS/prompts, README/readme)."""
    if not folder.is_dir():
        return None
    for p in sorted(folder.iterdir()):
        if p.name.lower() == name.lower():
            return p
    return None


def find_sessions(root: Path) -> list[Path]:
    """Session folders (those with ``etc/PROMPTS``) at most two levels below ``root``."""
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    candidates += [q for p in candidates[1:] for q in sorted(p.iterdir()) if q.is_dir()]
    return [c for c in candidates if (etc := _child(c, "etc")) and _child(etc, "PROMPTS")]


def session_speaker(session: Path) -> str:
    user = session.name.split("-")[0]
    return session.name if not user or user.lower() == "anonymous" else user


def session_dialect(session: Path) -> str | None:
    etc = _child(session, "etc")
    readme = _child(etc, "README") if etc else None
    if readme is None:
        return None
    for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := _DIALECT.search(line):
            return " ".join(m.group(1).lower().split()) or None
    return None


def collect(root: Path, *, dialects: list[str] | None = None) -> list[common.Utterance]:
    from ds2ray.data.text import normalize_text

    sessions = find_sessions(root)
    if not sessions:
        raise FileNotFoundError(f"no VoxForge sessions (folders with etc/PROMPTS) under {root}")
    wanted = [d.lower() for d in dialects] if dialects else None
    utterances: list[common.Utterance] = []
    missing, no_audio_dir, filtered = [], [], 0
    for session in sessions:
        dialect = session_dialect(session)
        if wanted and not (dialect and any(w in dialect for w in wanted)):
            filtered += 1
            continue
        audio_dirs = [(d, ext) for name, ext in (("wav", ".wav"), ("flac", ".flac")) if (d := _child(session, name))]
        if not audio_dirs:
            no_audio_dir.append(session.name)
            continue
        prompts = _child(_child(session, "etc"), "PROMPTS")  # type: ignore[arg-type]
        speaker = session_speaker(session)
        extra = {"dialect": dialect} if dialect else {}
        for line in prompts.read_text(encoding="utf-8", errors="replace").splitlines():  # type: ignore[union-attr]
            ref, _, text = line.strip().partition(" ")
            if not ref:
                continue
            utt = ref.replace("\\", "/").rsplit("/", 1)[-1]
            audio = next((d / f"{utt}{ext}" for d, ext in audio_dirs if (d / f"{utt}{ext}").exists()), None)
            if audio is None:
                missing.append(f"{session.name}/{utt}")
                continue
            utterances.append(common.Utterance(str(audio), normalize_text(text, "en"), speaker=speaker,
                                               extra=extra))
    if filtered:
        log.info("%d session(s) left out by --dialects", filtered)
    if no_audio_dir:
        log.warning("%d session(s) without wav/ or flac/ skipped, e.g. %s", len(no_audio_dir), no_audio_dir[0])
    if missing:
        log.warning("%d prompt(s) without audio skipped, e.g. %s", len(missing), missing[0])
    return utterances


CORPUS = Corpus("voxforge", HELP, VoxForgeOptions, prepare_voxforge, out_flag=common.OUT_DIR,
                source_flag=common.data_dir_flag("VoxForge"), overwrite_flag=common.OVERWRITE)
