"""The Temporal Clue recipe (system D): OpenPipe's settings mapped onto GRPOConfig, the recipe's flags, its data and
evaluation table, and an end-to-end run on a tiny model on the CPU (train, save, resume, evaluate by question kind)."""

import json
import os

import pytest

from data import temporal_clue as tc
from recipes import temporal_clue_14b as recipe
from recipes.common.args import one_line_errors, parse_args
from recipes.temporal_clue_14b import ExtraArguments
from recipes.errors import RecipeError


def test_defaults_are_openpipes_settings_on_one_gpu():
    args, cfg = parse_args(recipe.DEFAULTS, [])
    assert (args.model_name_or_path, args.load_in_4bit, args.lora_r, args.lora_alpha) == \
        ("Qwen/Qwen2.5-14B-Instruct", True, 16, 32)
    assert (args.max_prompt_tokens, args.max_seq_length, cfg.max_completion_length) == (3072, 3072 + 4096, 4096)
    assert (cfg.learning_rate, cfg.adam_beta1, cfg.adam_beta2, cfg.weight_decay) == (6e-6, 0.9, 0.99, 0.1)
    assert (cfg.beta, cfg.epsilon, cfg.num_iterations, cfg.temperature) == (0.0, 0.2, 1, 1.0)
    assert (cfg.loss_type, cfg.scale_rewards, cfg.lr_scheduler_type.value) == ("dapo", "group", "constant")
    assert (cfg.num_generations, cfg.per_device_train_batch_size, cfg.max_steps) == (8, 1, 100)
    assert cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps == 8 * 8  # 8 puzzles x 8 answers
    assert recipe.REWARDS == [recipe.clue_reward]


def test_the_published_step_is_two_flags_away():
    _, cfg = parse_args(recipe.DEFAULTS, ["--num_generations", "50", "--gradient_accumulation_steps", "1600"])
    assert cfg.generation_batch_size == 32 * 50  # OpenPipe's 32 puzzles x 50 answers


def parsed(*argv) -> tuple:
    """The command line as `run` parses it for the recipe: (args, training_args, clue_args)."""
    return parse_args(recipe.DEFAULTS, list(argv), ExtraArguments)


def test_recipe_flags_and_the_rest(capsys, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("clue_test_dir: dir\n")
    _, cfg, clue_args = parsed("--puzzles", "5", "--config", str(config), "--learning_rate", "1e-5")
    assert (clue_args.puzzles, clue_args.clue_test_dir, cfg.learning_rate) == (5, "dir", 1e-5)  # a flag or a key
    with pytest.raises(RecipeError, match="--puzzles must be at least 1, not 0"):
        parsed("--puzzles", "0")
    with pytest.raises(SystemExit):
        parsed("--help")  # one list
    printed = capsys.readouterr().out
    assert "--clue_test_dir" in printed and "--learning_rate" in printed


def test_a_bad_test_path_is_one_line_before_the_model_loads(tmp_path):
    with pytest.raises(SystemExit, match="error: no Temporal Clue puzzles at /nowhere/puzzles.json"):
        # --output_dir: the checkout's outputs/ may hold runs
        one_line_errors(lambda: recipe.main(*parsed("--clue_test_dir", "/nowhere/puzzles.json", "--model_name_or_path",
                                                    "/nowhere/model", "--output_dir", str(tmp_path))))


def test_training_and_held_out_puzzles_never_overlap(tiny_model):
    from transformers import AutoTokenizer

    args, cfg = parse_args(recipe.DEFAULTS, ["--max_prompt_tokens", "100000", "--eval_limit", "3"])
    train_set = recipe.load_data(args, cfg, AutoTokenizer.from_pretrained(tiny_model), ExtraArguments(puzzles=3))
    eval_set = recipe.load_eval_sets(args)["generated"]
    assert (len(train_set), len(eval_set)) == (3, 3)
    assert not set(train_set["question"]) & set(eval_set["question"])
    assert eval_set["question"] == [p["prompt"] for p in tc.generate(3, recipe.DATA_SEED)]
    assert train_set["question"][0] == tc.puzzle(recipe.DATA_SEED, recipe.EVAL_PUZZLES)["prompt"]


@pytest.mark.parametrize("reply, solved, formatted", [
    ("A. Mrs. White\nB. Knife\nC. 12:00 AM", True, True),
    ("Done.\n- A. Mrs. White\n- B. Knife\n- C. 12:00 AM", True, True),
    ("1. A. Mrs. White (the culprit), B. Knife, C. 12:00 AM</answer>", True, True),
    ("A. Mrs. White\nB. Knife\nC. 12:00 AM\nThat is all.", True, False),
    ("A. Mrs. White\nB. Knife\nC. 12:00 PM", False, True),
])
def test_evaluation_reads_answers_as_the_reward_does(reply, solved, formatted):
    gold = json.dumps({"A": "Mrs. White", "B": "Knife", "C": "12:00 AM"})  # the rows' answer column
    assert (recipe.TASK.is_correct(reply, {"answer": gold}), recipe.TASK.follows_format(reply)) == (solved, formatted)
    assert (recipe.clue_reward(["p"], [reply], [gold])[0] == 1.0) == solved


def test_the_table_shows_each_kind_and_dashes_for_kinds_not_asked():
    kinds = {"who": 50.0, "what": 25.0, "where": 100.0, "when": None, "why": 0.0, "bonus": 12.5, "score": 40.0,
             "solved": 0.0, "openpipe": 30.0, "tokens": 812.0}
    table = recipe.results_table(None, {"eval_set": "generated", "sets": {"generated": {"kinds": kinds, "n": 4}}})
    header, before, after = table.splitlines()[:3]
    assert header.split() == ["generated", "who", "what", "where", "when", "why", "bonus", "score", "solved",
                              "OpenPipe", "tokens"]
    assert before.split() == ["before"] + ["-"] * 10
    assert after.split() == ["after", "50.0", "25.0", "100.0", "-", "0.0", "12.5", "40.0", "0.0", "30.0", "812.0"]
    assert "(4 puzzles, generated with seed 2025" in table


def tiny_argv(tiny_model, out, *extra) -> list[str]:
    """2 steps of 2 puzzles x 2 answers of 8 tokens; one held-out puzzle of each set."""
    return ["--model_name_or_path", tiny_model, "--output_dir", str(out), "--max_prompt_tokens", "100000",
            "--max_completion_length", "8", "--lora_r", "8", "--lora_alpha", "16", "--max_steps", "2",
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--num_generations", "2",
            "--puzzles", "4", "--eval_limit", "1", "--eval_batch_size", "2", "--save_steps", "1", *extra]


def test_recipe_trains_saves_resumes_and_evaluates_by_question_kind(tiny_model, tmp_path, capsys):
    public = tmp_path / "public.json"  # a stand-in for OpenPipe's files, in their format
    public.write_text(json.dumps(tc.generate(1, seed=5)))
    out = tmp_path / "run"
    report = recipe.main(*parsed(*tiny_argv(tiny_model, out, "--clue_test_dir", str(public))))
    printed = capsys.readouterr().out
    assert {"checkpoint-1", "checkpoint-2", "adapter", "eval_before.json", "eval_after.json",
            "clue_results.json"} <= set(os.listdir(out))
    assert set(report) == {"generated", "public"}
    after = json.loads((out / "eval_after.json").read_text())
    assert after["eval_set"] == f"generated + {public}"
    for name, result in after["sets"].items():
        assert result["n"] == 1 and len(result["records"]) == 1
        assert set(result["kinds"]) >= set(tc.QUESTION_KINDS) | {"score", "solved", "openpipe", "tokens"}
    assert json.loads((out / "clue_results.json").read_text()) == report
    assert "generated       who     what    where" in printed and "OpenPipe's public puzzles" in printed
    assert f"[report] {out / 'report.html'}" in printed and (out / "completions.jsonl").is_file()
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "rewards/clue_reward/mean" in h] == [1, 2]

    # a stopped run continues from its last checkpoint and keeps the evaluation it made before training
    before = json.loads((out / "eval_before.json").read_text())
    before["sets"]["generated"]["kinds"]["who"] = 12.5
    (out / "eval_before.json").write_text(json.dumps(before))
    recipe.main(*parsed(*tiny_argv(tiny_model, out, "--clue_test_dir", str(public), "--max_steps", "3",
                          "--resume_from_checkpoint", "last")))
    printed = capsys.readouterr().out
    assert f"resuming from {out / 'checkpoint-2'}" in printed and "reusing" in printed
    assert json.loads((out / "clue_results.json").read_text())["generated"]["before"]["who"] == 12.5
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "rewards/clue_reward/mean" in h] == [1, 2, 3]
