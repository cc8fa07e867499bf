"""A source's columns never pass for the ones a loader builds or GRPOTrainer reads: a loader keeps only its own
columns and names the ones it leaves out (Countdown), or keeps the others and refuses a clash in one line (GSM8K)."""

import json
import os
import re
import subprocess
import sys

import pytest

from data import countdown, gsm8k
from data.columns import TRAINER_COLUMNS, keep_columns, refuse_clashes
from recipes.errors import RecipeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUESTION = {"question": "Ann has 2 apples and buys 3 more. How many apples does she have?",
            "answer": "2 + 3 = 5\n#### 5"}


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_keep_columns_names_what_it_leaves_out(capsys):
    assert keep_columns(["nums", "prompt", "target", "answer", "prompt"], ["target", "nums"], "f.jsonl") == [
        "target", "nums"]
    assert capsys.readouterr().out == "[data] f.jsonl: left out its column(s) 'prompt', 'answer'; only 'target', " \
                                      "'nums' are read\n"
    keep_columns(["target", "nums"], ["target", "nums"], "f.jsonl")
    assert capsys.readouterr().out == ""  # nothing left out: nothing said


@pytest.mark.parametrize("names, message", [
    (["question", "answer", "prompt"], "f.jsonl has its own column(s) 'prompt', which the loader makes"),
    (["question", "solution", "answer"], "has its own column(s) 'solution'"),
    *[(["question", "answer", name], f"has column(s) '{name}', a name GRPOTrainer gives its own meaning")
      for name in TRAINER_COLUMNS],
])
def test_a_clash_is_one_line(names, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        refuse_clashes(names, ("prompt", "solution"), "f.jsonl")


def test_other_columns_pass():
    refuse_clashes(["question", "answer", "difficulty"], ("prompt", "solution"), "f.jsonl")


@pytest.mark.parametrize("column", ["prompt", "solution", "completions", "images"])
def test_gsm8k_refuses_a_column_of_its_own_or_the_trainers(column, tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{**QUESTION, column: "theirs"}])
    with pytest.raises(RecipeError, match=f"train.jsonl has (its own )?column\\(s\\) '{column}'"):
        gsm8k.load(path, "train", "Answer.")


def test_gsm8k_keeps_other_columns_for_the_rewards(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{**QUESTION, "difficulty": "easy"}])
    [row] = gsm8k.load(path, "train", "Answer.").to_list()
    assert (row["difficulty"], row["answer"], row["prompt"][-1]["content"]) == ("easy", "5", QUESTION["question"])


def test_countdown_leaves_a_sources_prompt_and_answer_out(tmp_path, capsys):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"target": 24, "nums": [4, 6, 1], "answer": "4 * 6 * 1",
                                                  "prompt": "not this one"}])
    assert countdown.load(path, "train").to_list() == [countdown.make_row([4, 6, 1], 24)]
    assert "mine.jsonl: left out its column(s) 'answer', 'prompt'; only 'target', 'nums' are read" in \
        capsys.readouterr().out


def test_a_clash_stops_a_recipe_with_one_line(tiny_model, tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{**QUESTION, "prompt": "theirs"}])
    done = subprocess.run([sys.executable, "-m", "recipes.gsm8k_0_5b", "--dataset_name", path, "--model_name_or_path",
                           tiny_model, "--output_dir", str(tmp_path / "run"), "--skip_eval"], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (f"error: {path} has its own column(s) 'prompt', which the "
                                                    "loader makes: rename or remove them")
