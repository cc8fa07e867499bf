"""Evaluation: accuracy and format counting, the before/after table, and `make eval` loading a trained adapter."""

import json

import torch
from datasets import Dataset

from data import gsm8k
from recipes import gsm8k_0_5b, gsm8k_1_5b
from recipes.common.args import parse_args
from recipes.common.model import load_model
from recipes.common.evaluation import Task, evaluate, results_table
from recipes.tools import evaluate as evaluate_cli


def test_accuracy_and_format_follow_the_recipes_rules(monkeypatch):
    rows = Dataset.from_list([{"prompt": "q1", "answer": "72", "question": "q1"},
                              {"prompt": "q2", "answer": "5", "question": "q2"}])
    texts = ["<reasoning>r</reasoning><validate>v</validate><answer>72</answer>", "<answer>The answer is 5</answer>"]
    monkeypatch.setattr("recipes.common.processes.generate", lambda *a, **k: (texts, [10, 30]))
    a = evaluate(None, None, rows, gsm8k_0_5b.TASK, max_new_tokens=8)
    assert (a["accuracy"], a["format_rate"], a["mean_completion_tokens"]) == (50.0, 50.0, 20.0)
    b = evaluate(None, None, rows, gsm8k_1_5b.TASK, max_new_tokens=8)  # B credits a single matching number
    assert (b["accuracy"], b["format_rate"]) == (100.0, 50.0)  # B has no <validate>: the first text complies
    assert [r["correct"] for r in b["records"]] == [True, True]


def test_a_task_judges_each_completion_with_its_whole_row(monkeypatch):
    """A gold answer in several columns needs no packing: the task reads the row, and the record keeps those columns."""
    rows = Dataset.from_list([{"prompt": "p1", "nums": [2, 3], "target": 5, "question": None},
                              {"prompt": "p2", "nums": [4, 1], "target": 3, "question": None}])
    seen = []

    def sums_to_target(text, row):
        seen.append(row)
        return sum(row["nums"]) == row["target"] and str(row["target"]) in text

    task = Task(name="t", is_correct=sums_to_target, follows_format=lambda text: True,
                is_lenient_correct=lambda text, row: str(row["target"]) in text, gold_columns=("nums", "target"))
    monkeypatch.setattr("recipes.common.processes.generate", lambda *a, **k: (["5", "3"], [1, 1]))
    result = evaluate(None, None, rows, task, max_new_tokens=8)
    assert seen == rows.to_list()  # the whole row, prompt and all
    assert [(r["gold"], r["correct"], r["lenient"]) for r in result["records"]] == [
        ({"nums": [2, 3], "target": 5}, True, True), ({"nums": [4, 1], "target": 3}, False, True)]
    assert (result["accuracy"], result["lenient_accuracy"]) == (50.0, 100.0)


def test_results_table_shows_both_runs_and_the_published_numbers():
    before = {"accuracy": 8.0, "format_rate": 1.5, "mean_completion_tokens": 100.0, "n": 1319}
    after = {"accuracy": 60.25, "format_rate": 99.0, "mean_completion_tokens": 250.5, "n": 1319}
    table = results_table({"sets": {"test": before}}, {"sets": {"test": after}}, (8.87, 65.28))
    assert "8.00 %" in table and "60.25 %" in table and "8.87 % -> 65.28 %" in table and "250.50" in table
    assert "1319 questions" in table


def test_eval_cli_loads_the_adapter_a_recipe_saved(tiny_model, gsm8k_dir, tmp_path):
    args, _ = parse_args(gsm8k_0_5b.DEFAULTS,
                         ["--model_name_or_path", tiny_model, "--lora_r", "8", "--lora_alpha", "16"])
    eval_set = gsm8k.load(gsm8k_dir, "test", gsm8k_0_5b.SYSTEM_PROMPT).select(range(3))
    base_model, tokenizer = load_model(args)
    base = evaluate(base_model, tokenizer, eval_set, gsm8k_0_5b.TASK, max_new_tokens=12)

    trained, tokenizer = load_model(args)
    torch.manual_seed(1)
    for name, param in trained.named_parameters():
        if "lora_B" in name:  # stands in for training: a LoRA that changes what the model says
            param.data.normal_(0, 0.5)
    trained.save_pretrained(tmp_path / "adapter")
    expected = evaluate(trained, tokenizer, eval_set, gsm8k_0_5b.TASK, max_new_tokens=12)
    assert [r["completion"] for r in expected["records"]] != [r["completion"] for r in base["records"]]

    result = evaluate_cli.main(["--recipe", "gsm8k_0_5b", "--adapter", str(tmp_path / "adapter"),
                                "--dataset_name", gsm8k_dir, "--eval_limit", "3", "--max_new_tokens", "12",
                                "--max_prompt_tokens", "1024"])
    records = result["sets"]["test"]["records"]
    assert [r["completion"] for r in records] == [r["completion"] for r in expected["records"]]
    saved = json.loads((tmp_path / "eval.json").read_text())["sets"]["test"]
    assert saved["n"] == 3 and saved["accuracy"] == result["sets"]["test"]["accuracy"]
