"""The two GSM8K recipes: their settings, flag parsing, and end-to-end runs on a tiny model (train, checkpoint,
resume, save, evaluate) through the same code the GPU runs, on the CPU."""

import json
import os
import subprocess
import sys

import pytest

from recipes import gsm8k_0_5b, gsm8k_1_5b
from recipes.common import model as recipe_model
from recipes.common import start
from recipes.common.args import parse_args
from recipes.common.evaluation import read_evaluation
from recipes.errors import RecipeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_recipe_a_defaults_are_the_posts_settings():
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, [])
    assert (args.model_name_or_path, args.max_seq_length, args.max_prompt_tokens) == \
        ("Qwen/Qwen2.5-0.5B-Instruct", 1024, 256)
    assert (args.lora_r, args.lora_alpha, args.lora_random_state) == (32, 64, 1907)
    assert cfg.vllm_gpu_memory_utilization == 0.5  # the post: 0.8, which left 1.7 GB of a 24 GB card (README)
    assert args.lora_target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert (cfg.learning_rate, cfg.adam_beta1, cfg.adam_beta2, cfg.weight_decay) == (3e-5, 0.9, 0.99, 0.1)
    assert (cfg.warmup_steps, cfg.lr_scheduler_type.value, cfg.logging_steps) == (5, "cosine", 1)
    # the post's 32 completions a step, 16 at a time instead of one: the same update (tested below)
    assert (cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, cfg.num_generations) == (16, 2, 2)
    assert (cfg.max_completion_length, cfg.num_train_epochs, cfg.save_steps, cfg.max_grad_norm) == (512, 1, 100, 1.0)


def test_recipe_b_defaults_are_the_notebooks_settings():
    args, cfg = parse_args(gsm8k_1_5b.DEFAULTS, [])
    assert args.model_name_or_path == "Qwen/Qwen2.5-1.5B-Instruct"
    assert (cfg.max_steps, cfg.num_generations, cfg.max_completion_length) == (500, 14, 400)
    assert cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps == 7 * 14  # 7 prompts x 14 answers
    assert (cfg.beta, cfg.learning_rate, cfg.num_iterations, cfg.epsilon) == (0.04, 5e-6, 1, 0.1)


def test_recipe_b_holds_30_questions_out_of_train_unless_a_test_split_is_named(tmp_path):
    for split, n in (("train", 40), ("test", 5)):
        rows = [{"question": f"{split} {i}?", "answer": f"#### {i}"} for i in range(n)]
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args, _ = parse_args(gsm8k_1_5b.DEFAULTS, ["--dataset_name", str(tmp_path)])
    [(name, held_out)] = gsm8k_1_5b.load_eval_sets(args).items()
    training = gsm8k_1_5b.held_out_split(args)["train"]
    assert (name, len(held_out), len(training)) == ("held-out", 30, 10)
    assert not {str(p) for p in held_out["prompt"]} & {str(p) for p in training["prompt"]}
    args, _ = parse_args(gsm8k_1_5b.DEFAULTS, ["--dataset_name", str(tmp_path), "--dataset_test_split", "test"])
    [(name, test)] = gsm8k_1_5b.load_eval_sets(args).items()
    assert (name, len(test), len(gsm8k_1_5b.held_out_split(args)["train"])) == ("test", 5, 40)
    assert all("test" in str(p) for p in test["prompt"])


@pytest.mark.skipif(start.HAS_CUDA, reason="checks the no-GPU fallback")
def test_without_a_gpu_bf16_and_8bit_adam_are_switched_off():
    _, cfg = parse_args(gsm8k_0_5b.DEFAULTS, [])
    assert (cfg.bf16, cfg.optim.value, cfg.use_vllm) == (False, "adamw_torch", False)


def test_flags_and_yaml_override_defaults(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rate: 1.0e-4\nmax_steps: 7\n")
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, ["--config", str(config), "--max_steps", "9",
                                                 "--model_name_or_path", "m", "--lora_r", "8", "--skip_eval"])
    assert (cfg.learning_rate, cfg.max_steps, args.model_name_or_path, args.lora_r, args.skip_eval) == \
        (1e-4, 9, "m", 8, True)


@pytest.mark.skipif(start.USE_UNSLOTH, reason="checks the path without Unsloth")
def test_unsloth_only_settings_are_left_out_without_unsloth():
    # a recipe may set fields of Unsloth's GRPOConfig; plain TRL's GRPOConfig has none of them
    args, cfg = parse_args({**gsm8k_0_5b.DEFAULTS, "unsloth_grpo_mini_batch": 8}, [])
    assert not hasattr(cfg, "unsloth_grpo_mini_batch") and cfg.max_completion_length == 512
    with pytest.raises(RecipeError, match="unsloth_grpo_mini_batch"):  # asked for by name, it is still refused
        parse_args(gsm8k_0_5b.DEFAULTS, ["--unsloth_grpo_mini_batch", "8"])


@pytest.mark.parametrize("flag, expected", [([], "unsloth"), (["--gradient_checkpointing", "false"], False)])
def test_unsloth_gets_grpoconfigs_gradient_checkpointing(monkeypatch, tmp_path, flag, expected):
    """On the Unsloth path the recipes pass GRPOConfig's gradient_checkpointing on: Unsloth's offloading checkpoints
    by default, none with `--gradient_checkpointing false` (plain TRL's trainer reads the flag itself)."""
    import types

    calls = {}

    class FastLanguageModel:  # stands in for Unsloth's, which needs a CUDA GPU: records what the recipe asked for
        @staticmethod
        def from_pretrained(**kwargs):
            return "model", types.SimpleNamespace(pad_token="<pad>")

        @staticmethod
        def get_peft_model(model, **kwargs):
            calls.update(kwargs)
            return model

    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastLanguageModel=FastLanguageModel))
    monkeypatch.setattr(recipe_model, "USE_UNSLOTH", True)
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, ["--model_name_or_path", str(tmp_path), *flag])
    recipe_model.load_model(args, cfg)
    assert calls["use_gradient_checkpointing"] == expected


def test_unknown_flag_is_refused():
    with pytest.raises(RecipeError, match="unknown flags or --config keys: --no_such_flag 1"):
        parse_args(gsm8k_0_5b.DEFAULTS, ["--no_such_flag", "1"])


def test_importing_a_recipe_has_no_side_effects(tmp_path):
    # imported in an empty folder, which must stay empty: the checkout itself may hold outputs/ and .cache/ from the
    # README's commands (and this test's own imports of the recipes ran there already)
    code = "import recipes.gsm8k_0_5b, recipes.gsm8k_1_5b, recipes.demo_smollm2, recipes.knights_knaves_7b, " \
           "recipes.temporal_clue_14b, recipes.countdown_3b"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                   env={**os.environ, "PYTHONPATH": ROOT})
    assert os.listdir(tmp_path) == []


def tiny_run(recipe, tiny_model, data_dir, out_dir, *extra):
    argv = ["--model_name_or_path", tiny_model, "--dataset_name", data_dir, "--output_dir", str(out_dir),
            "--max_prompt_tokens", "1024", "--max_completion_length", "12", "--lora_r", "8", "--lora_alpha", "16",
            "--eval_limit", "3", "--eval_batch_size", "3", "--save_steps", "1", "--logging_steps", "1",
            "--num_generations", "2", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2",
            *extra]
    recipe.main(*parse_args(recipe.DEFAULTS, argv))


@pytest.mark.parametrize("recipe", [gsm8k_0_5b, gsm8k_1_5b], ids=["gsm8k_0_5b", "gsm8k_1_5b"])
def test_recipe_trains_saves_resumes_and_evaluates(recipe, tiny_model, gsm8k_dir, tmp_path, capsys):
    out = tmp_path / "run"
    tiny_run(recipe, tiny_model, gsm8k_dir, out, "--max_steps", "2")
    printed = capsys.readouterr().out
    assert {"checkpoint-1", "checkpoint-2", "adapter", "eval_before.json", "eval_after.json"} <= set(os.listdir(out))
    assert os.path.isfile(out / "adapter" / "adapter_config.json")
    before = json.loads((out / "eval_before.json").read_text())
    [(name, result)] = before["sets"].items()
    assert result["n"] == 3 and len(result["records"]) == 3 and 0 <= result["accuracy"] <= 100
    assert "published (before -> after)" in printed and f"{recipe.TASK.published[1]:.2f} %" in printed
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "reward" in h] == [1, 2]
    # each step's seconds spent generating, beside TRL's seconds a step (for the generation's share)
    assert all(0 < h["generate_time"] < h["step_time"] for h in history if "reward" in h)
    # the run's report, with a sample of what the model wrote while training (the first and the last step)
    kept = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert {k["step"] for k in kept} == {1, 2} and all(isinstance(k["reward"], float) for k in kept)
    assert f"[report] {out / 'report.html'}" in printed
    assert f"{recipe.TASK.published[1]:.2f}" in (out / "report.html").read_text()

    # a killed run continues from its last checkpoint, and keeps the evaluation it already made
    before["sets"][name]["accuracy"] = 12.5
    (out / "eval_before.json").write_text(json.dumps(before))
    tiny_run(recipe, tiny_model, gsm8k_dir, out, "--max_steps", "3", "--resume_from_checkpoint", "last")
    printed = capsys.readouterr().out
    assert f"resuming from {out / 'checkpoint-2'}" in printed
    assert "12.50 %" in printed
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "reward" in h] == [1, 2, 3]


def test_resume_without_checkpoint_is_a_clear_error(tiny_model, gsm8k_dir, tmp_path):
    with pytest.raises(RecipeError, match="no checkpoint to resume from"):
        tiny_run(gsm8k_0_5b, tiny_model, gsm8k_dir, tmp_path, "--resume_from_checkpoint", "last")


def test_save_merged_writes_a_plain_transformers_model(tiny_model, gsm8k_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    tiny_run(gsm8k_1_5b, tiny_model, gsm8k_dir, tmp_path, "--max_steps", "1", "--skip_eval", "--save_merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged-16bit")
    assert not hasattr(merged, "peft_config") and merged.config.model_type == "qwen2"


@pytest.mark.parametrize("flags, message", [
    (["--dataset_name", "/nowhere/train.jsonl"], "error: no GSM8K file at /nowhere/train.jsonl"),
    (["--model_name_or_path", "/nowhere/model"], "error: no such folder: /nowhere/model"),
])
def test_bad_input_is_one_line_not_a_traceback(flags, message, tiny_model, tmp_path):
    argv = ["--model_name_or_path", tiny_model, "--output_dir", str(tmp_path), "--max_steps", "1", *flags]
    done = subprocess.run([sys.executable, "-m", "recipes.gsm8k_0_5b", *argv], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr


def test_unknown_engine_is_one_line_not_a_traceback():
    done = subprocess.run([sys.executable, "-m", "recipes.gsm8k_0_5b", "--help"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "GRPO_ENGINE": "fastest"})
    assert done.returncode == 1
    assert "error: GRPO_ENGINE='fastest' is not one of unsloth, trl" in done.stderr and "Traceback" not in done.stderr


def test_an_earlier_evaluation_is_reused_only_for_the_same_sets(tmp_path):
    path = tmp_path / "eval_before.json"
    assert read_evaluation(str(path), "generated") is None  # none yet
    path.write_text(json.dumps({"eval_set": "generated", "sets": {"3ppl": {"accuracy": 50.0}}}))
    assert read_evaluation(str(path), "generated")["sets"]["3ppl"]["accuracy"] == 50.0
    assert read_evaluation(str(path), "/data/kk-test") is None  # made on other puzzles: evaluate again
    path.write_text(json.dumps([1, 2]))
    assert read_evaluation(str(path), "generated") is None


QUESTIONS = [{"question": f"Ann has {n} apples and buys {n + 1} more. How many apples does she have?",
              "answer": f"She has {n} + {n + 1} = {2 * n + 1}.\n#### {2 * n + 1}"} for n in range(8)]


def one_grpo_step(tiny_model, tmp_path, per_device, accumulation, *flags):
    """One GRPO step of recipe A (its settings, model loading, data and reward) on the tiny model, generating 8
    completions: the prompts and completions it trained on, and how much each LoRA weight moved."""
    import torch
    from trl import GRPOTrainer

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, [
        "--model_name_or_path", tiny_model, "--dataset_name", str(data), "--output_dir", str(tmp_path / "run"),
        "--max_prompt_tokens", "1024", "--max_completion_length", "8", "--lora_r", "4", "--lora_alpha", "8",
        "--max_steps", "1", "--save_strategy", "no",
        "--per_device_train_batch_size", str(per_device), "--gradient_accumulation_steps", str(accumulation),
        # The update is then the gradient itself: Adam's first step (lr * g / |g|), clipping (which rescales g) and
        # the warm-up (lr 0 at the first step) would each hide a difference in the gradient.
        "--optim", "sgd", "--max_grad_norm", "0", "--warmup_steps", "0", "--learning_rate", "0.1",
        # fp32 LoRA: on 4-bit weights TRL casts the LoRA to bf16, where the two splits agree only to bf16's rounding
        "--load_in_4bit", "false", *flags])
    assert cfg.num_generations == 2 and cfg.beta == 0.04
    model, tokenizer = recipe_model.load_model(args)
    # EOS made likelier: without it all 8 answers run to 8 tokens, and a token-count normalisation would not show
    cfg.generation_kwargs = {"sequence_bias": [[[tokenizer.eos_token_id], 4.0]]}
    train_set = gsm8k_0_5b.load_data(args, cfg, tokenizer)
    seen = []

    def varied_reward(prompts, completions, completion_ids, **kwargs):
        """Recipe A's reward is 0 on random text (no advantage, no gradient): this one varies with the answer."""
        seen.append([(p[-1]["content"], list(ids)) for p, ids in zip(prompts, completion_ids)])
        return [float(len(ids) + sum(ids) % 7) for ids in completion_ids]

    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[*gsm8k_0_5b.REWARDS, varied_reward],
                          args=cfg, train_dataset=train_set)
    lora = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in lora]
    trainer.train()
    assert len(seen) == 1 and len(seen[0]) == 8  # one generation of the step's 8 completions, whatever the split
    return seen[0], torch.cat([(p.detach() - b).flatten() for p, b in zip(lora, before)])


def test_recipe_a_micro_batches_make_the_posts_update(tiny_model, tmp_path):
    """Recipe A trains a step's completions 16 at a time (16 x 2), the post one at a time (1 x 32). With the "grpo" loss
    (each completion's token mean, averaged, divided by the accumulation steps) the gradient, so the update, is the
    same. Here 8 completions a step: 1 x 8 (the post's way) against 4 x 2 (ours), from the same seed."""
    import torch

    post_completions, post = one_grpo_step(tiny_model, tmp_path, 1, 8)  # recipe A's own loss: "grpo"
    ours_completions, ours = one_grpo_step(tiny_model, tmp_path, 4, 2)
    assert ours_completions == post_completions  # the same prompts and answers: generated at once in both
    assert len({len(ids) for _, ids in post_completions}) > 1  # of different lengths
    scale = post.abs().max()
    assert scale > 1e-3  # the step moved the LoRA
    assert torch.allclose(ours, post, rtol=1e-4, atol=1e-5 * scale)

    # "bnpo" divides by each micro-batch's token count instead: there the split does change the update, so the check
    # above would fail if recipe A's loss were one whose normalisation depends on the split
    _, post_bnpo = one_grpo_step(tiny_model, tmp_path, 1, 8, "--loss_type", "bnpo")
    _, ours_bnpo = one_grpo_step(tiny_model, tmp_path, 4, 2, "--loss_type", "bnpo")
    assert not torch.allclose(ours_bnpo, post_bnpo, rtol=1e-4, atol=1e-5 * scale)
    assert (ours_bnpo - post_bnpo).abs().max() > 0.1 * scale
