"""The Countdown recipe: TinyZero's GRPO settings mapped onto GRPOConfig, its flags (--chat, --puzzles), its data and
evaluation, and end-to-end runs on a tiny model on the CPU (train, evaluate, report) on TinyZero's split and on
generated puzzles."""

import json
import re

import pytest
from tinyzero_reference import BASE, QWEN_INSTRUCT
from transformers import AutoTokenizer

from data import countdown
from recipes import countdown_3b as recipe
from recipes.common.args import parse_args
from recipes.countdown_3b import TASK, ExtraArguments
from recipes.errors import RecipeError
from recipes.tools import evaluate as evaluate_cli
from rewards.countdown import countdown_reward

SMALL = ["--max_prompt_tokens", "1024", "--max_completion_length", "12", "--lora_r", "8", "--lora_alpha", "16",
         "--eval_batch_size", "4", "--save_steps", "1", "--num_generations", "2", "--per_device_train_batch_size",
         "2", "--gradient_accumulation_steps", "2"]


def parsed(*argv) -> tuple:
    """The command line as `run` parses it for the recipe: (args, training_args, extra_args)."""
    return parse_args(recipe.DEFAULTS, list(argv), ExtraArguments)


def test_defaults_are_tinyzeros_grpo_settings_on_one_gpu():
    args, cfg, extra = parsed()
    assert (args.model_name_or_path, args.dataset_name, extra.chat, extra.puzzles) == ("Qwen/Qwen2.5-3B", countdown.HUB_ID,
                                                                          False, None)
    assert (args.max_prompt_tokens, cfg.max_completion_length, cfg.vllm_gpu_memory_utilization) == (256, 1024, 0.4)
    assert (cfg.beta, cfg.epsilon, cfg.num_iterations, cfg.temperature) == (0.001, 0.2, 1, 1.0)
    assert (cfg.loss_type, cfg.scale_rewards, cfg.lr_scheduler_type.value) == ("bnpo", "group", "constant")
    assert (cfg.weight_decay, cfg.max_grad_norm, cfg.save_steps, cfg.save_total_limit) == (0.01, 1.0, 10, 3)
    assert cfg.learning_rate == 1e-5  # ten times TinyZero's 1e-6, for a LoRA
    assert (cfg.num_generations, cfg.per_device_train_batch_size) == (5, 4)  # TinyZero's rollout.n and micro batch
    assert cfg.generation_batch_size == 16 * 5  # 16 puzzles x 5 answers a step
    assert recipe.REWARDS == [countdown_reward]


def test_tinyzeros_update_is_one_flag_away():
    _, cfg, _ = parsed("--gradient_accumulation_steps", "80")
    assert cfg.generation_batch_size == 64 * 5  # ppo_mini_batch_size 64 x rollout.n 5


def test_recipe_flags(capsys):
    _, _, extra = parsed("--chat", "true", "--puzzles", "7")
    assert (extra.chat, extra.puzzles) == (True, 7)
    with pytest.raises(RecipeError, match="--puzzles must be at least 1, not 0"):
        parsed("--puzzles", "0")
    with pytest.raises(SystemExit):
        parsed("--help")  # one list
    printed = capsys.readouterr().out
    assert "--chat" in printed and "--puzzles" in printed and "--learning_rate" in printed


class ModelLoaded(Exception):
    pass


@pytest.mark.parametrize("argv, model", [
    ([], "Qwen/Qwen2.5-3B"),
    (["--chat", "true"], "Qwen/Qwen2.5-3B-Instruct"),
    (["--chat", "true", "--model_name_or_path", "my/base"], "my/base"),  # a model the user names is kept
    (["--model_name_or_path", "my/base"], "my/base"),
])
def test_chat_takes_the_instruct_model_unless_another_is_named(argv, model, monkeypatch, tmp_path):
    def load_model(args, *_, **__):
        raise ModelLoaded(args.model_name_or_path)

    monkeypatch.setattr(recipe, "load_model", load_model)
    with pytest.raises(ModelLoaded, match=f"^{re.escape(model)}$"):
        recipe.main(*parsed("--output_dir", str(tmp_path / "run"), *argv))


@pytest.mark.parametrize("argv, model", [
    ([], "Qwen/Qwen2.5-3B"),
    (["--chat", "true"], "Qwen/Qwen2.5-3B-Instruct"),
    (["--chat", "true", "--model_name_or_path", "my/base"], "my/base"),
])
def test_make_eval_of_a_chat_run_takes_the_instruct_model_too(argv, model):
    _, _, args, [extra] = evaluate_cli.parse(["--recipe", "countdown_3b", *argv])
    assert (args.model_name_or_path, extra.chat) == (model, "--chat" in argv)


def test_make_eval_of_a_chat_adapter_takes_the_adapters_base_model(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "my/trained-base", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}))
    _, _, args, _ = evaluate_cli.parse(["--recipe", "countdown_3b", "--adapter", str(tmp_path), "--chat", "true"])
    assert (args.model_name_or_path, args.lora_r) == ("my/trained-base", 8)


def row(nums, target, chat=False) -> dict:
    return countdown.make_row(nums, target, chat)


@pytest.mark.parametrize("reply, solved, lenient, formatted", [
    ("9 and 4 make 36.</think>\n<answer> (9 * 4) - 8 </answer>", True, True, True),
    ("</think>\n<answer> 9 * 4 </answer>", False, False, True),  # a number left out
    ("</think>\n<answer> (9 * 4) - 8 </answer>\n", False, True, True),  # TinyZero reads the last line only
    ("</think>\n<answer>\n(9 * 4) - 8\n</answer>", False, True, True),
    ("(9 * 4) - 8 = 28", False, False, False),
])
def test_evaluation_judges_a_row_by_its_numbers_and_target(reply, solved, lenient, formatted):
    for chat in (False, True):
        puzzle = row([9, 4, 8], 28, chat)
        assert (TASK.is_correct(reply, puzzle), TASK.is_lenient_correct(reply, puzzle),
                TASK.follows_format(reply)) == (solved, lenient, formatted)
        score = countdown_reward([puzzle["prompt"]], [reply], [puzzle["nums"]], [puzzle["target"]])[0]
        assert (score == 1.0) == solved  # the reward's rule


def test_chat_prompts_are_text_that_continues_the_prefilled_turn(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    args, cfg, extra = parsed("--chat", "true", "--puzzles", "3", "--max_prompt_tokens", "1024")
    train_set = recipe.load_data(args, cfg, tokenizer, extra)
    assert train_set["prompt"] == [QWEN_INSTRUCT.format(numbers=r["nums"], target=r["target"]) for r in train_set]
    # the reward reads these text prompts as it reads the messages they came from
    right = "</think>\n<answer> " + countdown.solve(train_set[0]["nums"], train_set[0]["target"]) + " </answer>"
    assert countdown_reward(train_set["prompt"][:1], [right], train_set["nums"][:1], train_set["target"][:1]) == [1.0]
    args, cfg, extra = parsed("--puzzles", "3", "--max_prompt_tokens", "1024")
    assert recipe.load_data(args, cfg, tokenizer, extra)["prompt"] == [
        BASE.format(numbers=r["nums"], target=r["target"]) for r in train_set]  # the same puzzles, base prompt


def test_generated_puzzles_train_apart_from_the_test_ones(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    args, cfg, extra = parsed("--puzzles", "20", "--max_prompt_tokens", "1024")
    train_set = recipe.load_data(args, cfg, tokenizer, extra)
    [(name, test_set)] = recipe.load_eval_sets(args, extra).items()
    assert (name, len(train_set), len(test_set)) == ("generated", 20, countdown.TEST_SIZE)
    key = lambda r: (tuple(sorted(r["nums"])), r["target"])  # noqa: E731
    assert not {key(r) for r in train_set} & {key(r) for r in test_set}
    args, _, _ = parsed("--puzzles", "20", "--eval_limit", "5")
    assert recipe.load_eval_sets(args, extra)["generated"].to_list() == test_set.select(range(5)).to_list()


def tiny_run(tiny_model, out, *argv) -> None:
    recipe.main(*parsed("--model_name_or_path", tiny_model, "--output_dir", str(out), "--max_steps", "2", *SMALL, *argv))


def test_recipe_trains_evaluates_and_reports_on_tinyzeros_split(tiny_model, countdown_dir, tmp_path, capsys):
    out = tmp_path / "run"
    tiny_run(tiny_model, out, "--dataset_name", str(countdown_dir), "--eval_limit", "4")
    printed = capsys.readouterr().out
    assert "left out its column(s) 'data_source', 'prompt', 'hint', 'question', 'answer'" in printed
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "rewards/countdown_reward/mean" in h] == [1, 2]
    first = countdown.load(str(countdown_dir), "test").select(range(4))
    for stage in ("before", "after"):
        result = json.loads((out / f"eval_{stage}.json").read_text())["sets"]["test"]
        assert [r["gold"] for r in result["records"]] == [{"nums": r["nums"], "target": r["target"]} for r in first]
        assert result["n"] == 4 and "lenient_accuracy" in result
    kept = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert {k["step"] for k in kept} == {1, 2} and kept[0]["prompt"].startswith("A conversation between User")
    assert (out / "adapter" / "adapter_config.json").is_file()
    page = (out / "report.html").read_text()
    assert f"[report] {out / 'report.html'}" in printed and "countdown_reward" in page
    assert json.dumps({"nums": first[0]["nums"], "target": first[0]["target"]}).replace('"', "&quot;") in page


def test_recipe_trains_on_generated_puzzles_with_the_chat_prompt(tiny_model, tmp_path, capsys):
    out = tmp_path / "run"
    tiny_run(tiny_model, out, "--chat", "true", "--puzzles", "8", "--eval_limit", "3")
    kept = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert kept and all(k["prompt"].endswith("assistant\nLet me solve this step by step.\n<think>") for k in kept)
    result = json.loads((out / "eval_after.json").read_text())
    assert result["eval_set"] == "generated" and result["sets"]["generated"]["n"] == 3
    assert (out / "report.html").is_file()
    # make eval RECIPE=countdown_3b ADAPTER=... ARGS="--chat true ...": the same prompts, so the same completions
    evaluated = evaluate_cli.main(["--recipe", "countdown_3b", "--adapter", str(out / "adapter"), "--chat", "true",
                                   "--puzzles", "8", "--eval_limit", "3", "--max_new_tokens", "12",
                                   "--max_prompt_tokens", "1024"])["sets"]["generated"]
    assert [r["completion"] for r in evaluated["records"]] == [
        r["completion"] for r in result["sets"]["generated"]["records"]]
