"""The scaling profiler's arithmetic, data and outputs (the 1-vs-2-worker run on a real 2-node Ray
cluster is in tests/cluster/test_local_cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ds2ray.config import ConfigError
from ds2ray.profile import (ProfileConfig, ProfilePoint, ProfileReport, add_speedups, measure_steps, parse_workers,
                            point_manifest, select_utterances, synthesize_manifest, write_report)


def write_steps(path: Path, rows: list[tuple[int, float, float]]) -> Path:
    lines = ["step,epoch,loss,audio_s_per_s,elapsed_s"]
    lines += [f"{s},0,1.0,{rate},{elapsed}" for s, elapsed, rate in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_measure_steps_skips_warmup_and_weights_rates_by_step_time(tmp_path):
    # (step, elapsed at its end, audio-s/s of the step)
    csv = write_steps(tmp_path / "steps.csv", [(1, 1.0, 10), (2, 1.5, 20), (3, 2.0, 20), (4, 2.6, 30), (5, 3.0, 25)])
    steps, seconds, audio = measure_steps(csv, warmup_steps=2)
    assert steps == 3
    assert seconds == pytest.approx(3.0 - 1.5)
    assert audio == pytest.approx(20 * 0.5 + 30 * 0.6 + 25 * 0.4)  # 38 audio seconds in 1.5 s
    steps, seconds, audio = measure_steps(csv, warmup_steps=0)
    assert (steps, seconds) == (5, pytest.approx(3.0)) and audio == pytest.approx(10 * 1.0 + 38 + 20 * 0.5)


def test_measure_steps_rejects_logs_it_cannot_read(tmp_path):
    gaps = write_steps(tmp_path / "gaps.csv", [(5, 1.0, 10), (10, 2.0, 10), (15, 3.0, 10)])
    with pytest.raises(RuntimeError, match="one row per step"):
        measure_steps(gaps, 1)
    (tmp_path / "old.csv").write_text("step,loss\n1,2.0\n")
    with pytest.raises(RuntimeError, match=r"lacks column\(s\) \['audio_s_per_s', 'elapsed_s'\]"):
        measure_steps(tmp_path / "old.csv", 0)
    short = write_steps(tmp_path / "short.csv", [(1, 1.0, 10), (2, 2.0, 10)])
    with pytest.raises(RuntimeError, match="not more than the 2 warmup steps"):
        measure_steps(short, 2)


def test_speedup_is_against_the_smallest_k_per_worker():
    points = [ProfilePoint(2, audio_s_per_s=100.0), ProfilePoint(4, audio_s_per_s=180.0),
              ProfilePoint(8, status="skipped: needs 8 GPUs, the cluster has 4")]
    add_speedups(points)
    assert points[0].speedup == pytest.approx(2.0) and points[0].efficiency == pytest.approx(1.0)
    assert points[1].speedup == pytest.approx(3.6) and points[1].efficiency == pytest.approx(0.9)
    assert points[2].speedup == 0.0


def test_config_and_flags_are_validated():
    assert parse_workers("1,2,4,8") == (1, 2, 4, 8)
    with pytest.raises(ValueError, match="comma-separated"):
        parse_workers("1,two")
    with pytest.raises(ConfigError, match="must exceed warmup_steps"):
        ProfileConfig(steps=3, warmup_steps=3)
    with pytest.raises(ConfigError, match="min_duration < max_duration"):
        ProfileConfig(min_duration=7, max_duration=6)


def test_synthetic_utterances_last_six_to_seven_seconds_and_fill_exact_epochs(tmp_path):
    cfg = ProfileConfig(distinct_utterances=4, batch_size=3, steps=5, warmup_steps=1)
    entries = select_utterances(str(synthesize_manifest(cfg, tmp_path)), cfg)
    assert len(entries) == 4
    assert all(6.0 <= e.duration <= 7.0 and len(e.text.split()) >= 8 for e in entries)
    path = point_manifest(entries, 2, cfg, tmp_path)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 2 * 3 * 5  # K x per-worker batch x steps: the run is exactly one epoch
    assert [x["audio_filepath"] for x in lines[:8]] == [e.audio_filepath for e in entries] * 2
    with pytest.raises(ValueError, match="no utterances of 6.0-7.0 s"):
        select_utterances(str(synthesize_manifest(ProfileConfig(min_duration=1, max_duration=2,
                                                                distinct_utterances=2), tmp_path / "short")), cfg)


def test_report_writes_json_table_and_png(tmp_path):
    cfg = ProfileConfig(workers=(1, 2, 4))
    points = [ProfilePoint(1, measured_steps=17, seconds=10.0, step_time_s=0.59, audio_s_per_s=30.0),
              ProfilePoint(2, measured_steps=17, seconds=10.4, step_time_s=0.61, audio_s_per_s=55.0),
              ProfilePoint(4, status="skipped: needs 4 CPUs, the cluster has 2 CPUs")]
    add_speedups(points)
    report = ProfileReport(cfg, points, {"cpus": 2})
    json_path, png_path = write_report(report, tmp_path)
    data = json.loads(json_path.read_text())
    assert data["config"]["workers"] == [1, 2, 4] and data["points"][1]["speedup"] == pytest.approx(55 / 30)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_path.stat().st_size > 5000
    table = report.table().splitlines()
    assert table[0].split()[:5] == ["workers", "step", "s", "audio-s/s", "utt/s"]
    assert "1.83x" in table[3] and "92%" in table[3]
    assert table[4].rstrip().endswith("skipped: needs 4 CPUs, the cluster has 2 CPUs")
