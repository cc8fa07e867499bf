"""The benchmark (tests/bench.py) end to end on a tiny model on the CPU: both engines, each in its own process, and
the table it writes. The numbers themselves come from the GPU (BENCHMARKS.md); here the bookkeeping is checked."""

import json
import os
import subprocess
import sys

import pytest

import bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUESTIONS = [{"question": f"Ann has {n} apples and buys {n + 1} more. How many apples does she have?",
              "answer": f"She has {n} + {n + 1} = {2 * n + 1}.\n#### {2 * n + 1}"} for n in range(40)]


def test_bench_runs_both_engines_and_writes_the_table(tiny_model, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    output, runs = tmp_path / "BENCHMARKS.md", tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, "tests/bench.py", "--recipes", "gsm8k_1_5b", "--steps", "3", "--model", tiny_model,
         "--dataset_name", str(data), "--output", str(output), "--runs", str(runs), "--",
         "--gradient_accumulation_steps", "2", "--per_device_train_batch_size", "2", "--num_generations", "2",
         "--max_completion_length", "6", "--max_prompt_tokens", "1024"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]

    results = json.loads(runs.read_text())
    assert [(r["recipe"], r["engine"]) for r in results] == [("gsm8k_1_5b", "unsloth"), ("gsm8k_1_5b", "trl")]
    for r in results:
        assert len(r["steps"]) == 3 and r["completions_per_step"] == 4
        for step in r["steps"]:
            # every step generated 4 completions of at most 6 tokens, and generating was part of the step's time
            assert 4 <= step["tokens"] <= 4 * 6
            assert 0 < step["generate"] < step["time"]

    text = output.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| gsm8k_1_5b")]
    assert len(rows) == 2 and "median of 2" in rows[0]
    assert rows[1].endswith("| 1.0× |")  # plain TRL against itself
    assert "none (CPU)" in text and "trl " in text


def test_summary_leaves_out_the_warm_up_step():
    run = {"steps": [{"time": 100.0, "generate": 90.0, "tokens": 10},
                     {"time": 2.0, "generate": 1.0, "tokens": 100},
                     {"time": 4.0, "generate": 3.0, "tokens": 300},
                     {"time": 3.0, "generate": 2.0, "tokens": 200}]}
    s = bench.summarise(run)
    assert (s["step"], s["n"], s["first"]) == (3.0, 3, 100.0)
    assert s["share"] == 6.0 / 9.0 and s["tokens_per_s"] == 600 / 6.0


@pytest.mark.parametrize("recipe, flags, learning_rate", [
    ("knights_knaves_7b:3", ["--puzzles", "8"], 2e-7),  # one stage of a staged recipe: stage 3's settings
    ("temporal_clue_14b", ["--eval_limit", "1"], 6e-6),  # generated data: only the puzzles the steps use
], ids=["kk-stage-3", "temporal-clue"])
def test_bench_drives_each_kind_of_recipe(recipe, flags, learning_rate, tiny_model, tmp_path):
    runs = tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, "tests/bench.py", "--recipes", recipe, "--engines", "trl", "--steps", "2",
         "--model", tiny_model, "--output", str(tmp_path / "B.md"), "--runs", str(runs), "--",
         "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--num_generations", "2",
         "--max_completion_length", "6", "--max_prompt_tokens", "8192", *flags],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    [run] = json.loads(runs.read_text())
    # the recipe's own settings (its learning rate) under the flags given, and two steps, each generating
    assert run["recipe"] == recipe and run["learning_rate"] == learning_rate
    assert run["completions_per_step"] == 4 and run["num_generations"] == 2
    assert len(run["steps"]) == 2 and all(s["tokens"] > 0 for s in run["steps"])
