"""`make plot`: a run's logged history becomes PNG curves."""

import json

import pytest

from recipes.tools.plot import load_history, plot_run

HISTORY = [{"step": s, "reward": 0.1 * s, "rewards/correctness_reward/mean": 0.05 * s,
            "rewards/answer_tag_reward/mean": 0.05 * s, "rewards/answer_tag_reward/std": 0.01,
            "completions/mean_length": 60 - s, "completions/clipped_ratio": 0.5 / s} for s in range(1, 6)]


def test_a_finished_run_gets_three_pictures(tmp_path):
    (tmp_path / "log_history.json").write_text(json.dumps(HISTORY + [{"step": 5, "train_runtime": 9.0}]))
    paths = plot_run(str(tmp_path))
    assert sorted(p.split("/")[-1] for p in paths) == ["completion_length.png", "reward.png", "truncated.png"]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_killed_run_is_read_from_its_newest_checkpoint(tmp_path):
    for step in (2, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(
            json.dumps({"log_history": HISTORY[:step]}))
    assert len(load_history(str(tmp_path))) == 5  # checkpoint-10, not checkpoint-2 (numeric, not text order)


def test_a_folder_without_history_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no log_history.json"):
        plot_run(str(tmp_path))
