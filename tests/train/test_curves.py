"""Training curves PNG from logs written by the real MetricsLog, and the progress line."""

from __future__ import annotations

import math
import struct

import pytest

from ds2ray.cli import main
from ds2ray.train.curves import CURVES_PNG, moving_average, plot_training_curves, read_table
from ds2ray.train.metrics_log import MetricsLog, format_progress

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk; fails unless the file is a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_run(storage, name="run", epochs=3, steps_per_epoch=40, dev=True, resume_at=None) -> None:
    """A run's logs as the training loop writes them: a row per step, a row per epoch."""
    log = MetricsLog(str(storage), name, tensorboard=False)
    step = 0
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            step += 1
            loss = 200.0 * math.exp(-step / 30) + 5 + (step % 7)
            log.step(step, {"epoch": epoch, "batch": step, "loss": loss, "lr": 1e-3, "audio_s_per_s": 50.0,
                            "elapsed_s": 1.5 * step})
        metrics = {"epoch": epoch + 1, "train_loss": 150.0 / (epoch + 1), "elapsed_s": 1.5 * step}
        if dev:
            metrics.update(dev_loss=120.0 / (epoch + 1), dev_cer=0.8 / (epoch + 1), dev_wer=1.0 / (epoch + 1) ** 0.5)
        log.epoch(step, metrics)
    log.close()


def test_curves_png_from_metrics_log(tmp_path):
    write_run(tmp_path)
    out = plot_training_curves(tmp_path / "run")
    assert out == tmp_path / "run" / CURVES_PNG
    width, height = png_size(out)
    assert (width, height) == (1200, 800)
    assert out.stat().st_size > 20_000  # four drawn panels, not a blank canvas


def test_curves_resumed_run_and_logs_folder(tmp_path):
    write_run(tmp_path, epochs=2)
    # resume from step 50: rows after it are dropped, then the run continues
    log = MetricsLog(str(tmp_path), "run", resume_step=50, tensorboard=False)
    for step in range(51, 90):
        log.step(step, {"loss": 10.0, "elapsed_s": 1.5 * step})
    log.epoch(89, {"epoch": 3, "train_loss": 10.0, "elapsed_s": 133.5, "dev_cer": 0.3, "dev_wer": 0.5,
                   "stopped": "time budget of 2 min reached"})
    log.close()
    steps = read_table(tmp_path / "run" / "logs" / "steps.csv")
    assert steps["step"] == sorted(set(steps["step"])) and steps["step"][-1] == 89
    epochs = read_table(tmp_path / "run" / "logs" / "epochs.csv")
    assert math.isnan(epochs["stopped"][-1])  # the reason is text: not plotted
    out = plot_training_curves(tmp_path / "run" / "logs", tmp_path / "elsewhere" / "c.png")
    assert out == tmp_path / "elsewhere" / "c.png"
    assert png_size(out) == (1200, 800)


@pytest.mark.parametrize("epochs,dev", [(1, True), (1, False), (0, False)], ids=["one-epoch", "no-dev", "no-epoch"])
def test_curves_degrade_gracefully(tmp_path, epochs, dev):
    if epochs:
        write_run(tmp_path, epochs=epochs, steps_per_epoch=3, dev=dev)
    else:  # still in the first epoch: steps only
        log = MetricsLog(str(tmp_path), "run", tensorboard=False)
        log.step(1, {"loss": 300.0, "elapsed_s": 2.0})
        log.close()
    assert png_size(plot_training_curves(tmp_path / "run")) == (1200, 800)


def test_curves_missing_logs_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"logs/steps\.csv"):
        plot_training_curves(tmp_path / "nope")
    empty = MetricsLog(str(tmp_path), "empty", tensorboard=False)
    empty.close()
    with pytest.raises(ValueError, match="no steps logged"):
        plot_training_curves(tmp_path / "empty")
    bad = tmp_path / "bad" / "logs"
    bad.mkdir(parents=True)
    (bad / "steps.csv").write_text("step,lr\n1,0.1\n")
    with pytest.raises(ValueError, match=r"steps\.csv: missing column\(s\) \['loss', 'elapsed_s'\]"):
        plot_training_curves(tmp_path / "bad")


def test_curves_cli(tmp_path, capsys):
    write_run(tmp_path, epochs=2, steps_per_epoch=5)
    assert main(["curves", str(tmp_path / "run"), "--out", str(tmp_path / "c.png")]) == 0
    assert "c.png" in capsys.readouterr().out
    png_size(tmp_path / "c.png")
    assert main(["curves", str(tmp_path / "missing")]) == 2
    assert "steps.csv not found" in capsys.readouterr().err


def test_moving_average_skips_nan():
    assert moving_average([1.0, math.nan, 3.0, 5.0], 2) == [1.0, 1.0, 2.0, 4.0]
    assert math.isnan(moving_average([math.nan], 3)[0])


def test_progress_without_budget_is_unchanged():
    line = format_progress(0, 3, 580, 18879, 12.3456, 1e-3, 45.67, 3725)
    assert line == "epoch 1/3 step 580/18879 (3.1%) loss 12.346 lr 1.00e-03 45.7 audio-s/s ETA 1:02:05"
    assert format_progress(0, 3, 580, 18879, 12.3456, 1e-3, 45.67, 3725, budget_s=0, elapsed_s=270) == line
    assert format_progress(0, 3, 580, 18879, 12.3456, 1e-3, 45.67, 3725, budget_s=540) == line


def test_progress_with_time_budget():
    line = format_progress(0, 3, 580, 18879, 12.3456, 1e-3, 45.67, 270, budget_s=540, elapsed_s=270)
    assert line == "epoch 1/3 step 580 · 4.5/9.0 min (50%) loss 12.346 lr 1.00e-03 45.7 audio-s/s ETA 4:30"
    # the step plan ends the run before the budget: progress counts steps
    short = format_progress(1, 2, 600, 1000, 1.0, 1e-3, 45.0, 60, budget_s=540, elapsed_s=90)
    assert "step 600/1000 (60.0%) · 1.5/9.0 min" in short
    # past the budget (the last step finishing): never over 100%
    assert "(100%)" in format_progress(0, 1, 10, 10**6, 1.0, 1e-3, 1.0, 0, budget_s=60, elapsed_s=61)
