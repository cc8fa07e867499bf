"""A recipe file copied under a new name, with a reward of its own, is a recipe: it trains, `make eval` evaluates its
adapter, `make report` shows the run, the benchmark runs it and the launcher knows it, with no other file changed.
Run in a copy of the code, so the checkout stays as it is."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [{"question": f"Ann has {n} apples and buys {n + 1} more. How many apples does she have?",
              "answer": f"She has {n} + {n + 1} = {2 * n + 1}.\n#### {2 * n + 1}"} for n in range(20)]
NEW_REWARD = '''from rewards.text import completion_text


def short_answer_reward(prompts, completions, **kwargs) -> list[float]:
    """1 for a reply of at most 20 characters, else 0."""
    return [float(len(completion_text(c)) <= 20) for c in completions]
'''
SMALL = ["--max_prompt_tokens", "1024", "--max_completion_length", "6", "--lora_r", "8", "--lora_alpha", "16",
         "--num_generations", "2", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2"]


@pytest.fixture(scope="module")
def copied(tmp_path_factory):
    """A copy of the code with recipes/word_problems.py, a copy of recipe A, and a small GSM8K-style dataset."""
    root = tmp_path_factory.mktemp("copy")
    for package in ("recipes", "rewards", "data"):
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    # the README's steps: copy a recipe, put a new reward in rewards/, and name it in the copy's REWARDS
    recipe = (root / "recipes" / "gsm8k_0_5b.py").read_text()
    assert "\nREWARDS = [custom_reward]\n" in recipe
    (root / "rewards" / "word_problems.py").write_text(NEW_REWARD)
    (root / "recipes" / "word_problems.py").write_text(recipe.replace(
        "\nREWARDS = [custom_reward]\n", "\nfrom rewards.word_problems import short_answer_reward\n\n"
        "REWARDS = [short_answer_reward]\n"))
    data = root / "gsm8k"
    data.mkdir()
    for split, rows in (("train", QUESTIONS[:16]), ("test", QUESTIONS[16:])):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root, str(data)


def run(root: Path, *command) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", *command], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_copied_recipe_with_its_own_reward_trains_evaluates_reports_and_benchmarks(copied, tiny_model):
    root, data = copied
    out = root / "run"
    run(root, "recipes.word_problems", "--model_name_or_path", tiny_model, "--dataset_name", data,
        "--output_dir", str(out), "--max_steps", "2", "--eval_limit", "2", *SMALL)
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert json.loads((out / "eval_after.json").read_text())["sets"]["test"]["n"] == 2
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "rewards/short_answer_reward/mean" in h] == [1, 2]  # the new reward trained
    assert "short_answer_reward" in (out / "report.html").read_text()  # and the run's report shows it
    (out / "report.html").unlink()
    run(root, "recipes.tools.report", str(out))  # make report RUN=<folder>
    assert "short_answer_reward" in (out / "report.html").read_text()

    done = run(root, "recipes.tools.evaluate", "--recipe", "word_problems", "--adapter", str(out / "adapter"),
               "--dataset_name", data, "--eval_limit", "2", "--max_new_tokens", "6", "--max_prompt_tokens", "1024")
    evaluated = json.loads((out / "eval.json").read_text())["sets"]["test"]
    assert evaluated["n"] == 2 and "test: accuracy" in done.stdout
    # the adapter evaluated as the run evaluated it after training: the same greedy completions
    after = json.loads((out / "eval_after.json").read_text())["sets"]["test"]
    assert [r["completion"] for r in evaluated["records"]] == [r["completion"] for r in after["records"]]

    runs = root / "runs.json"
    run(root, "recipes.tools.bench", "--recipes", "word_problems", "--engines", "trl", "--steps", "2",
        "--model_name_or_path", tiny_model, "--dataset_name", data, "--output", str(root / "B.md"), "--runs", str(runs),
        "--", *SMALL)
    [bench_run] = json.loads(runs.read_text())
    assert bench_run["recipe"] == "word_problems" and len(bench_run["steps"]) == 2
    assert any(line.startswith("| word_problems |") for line in (root / "B.md").read_text().splitlines())


def test_the_launcher_knows_a_copied_recipe(copied):
    root, _ = copied
    done = run(root, "recipes.tools.launch", "--cpu", "--gpus", "2", "--dist", "ddp", "--dry_run", "word_problems",
               "--max_steps", "1")
    assert done.stdout.rstrip().endswith("-m recipes.word_problems --max_steps 1")
