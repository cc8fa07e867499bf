"""The Knights and Knaves recipe (system C): its three stages' settings and the flags over them, the temperature
anneal, the pre-filled "<think>" turn, and end-to-end runs of every stage on a tiny model on the CPU (each stage from
the previous one's adapter, resumed runs, the before/after table)."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from recipes.common import generation
from recipes.common.args import parse_args
from recipes import knights_knaves_7b as recipe
from recipes.common.model import load_model
from recipes.common.stages import stage_settings, start_from
from recipes.errors import RecipeError
from recipes.knights_knaves_7b import DEFAULTS, STAGES, TASK, ExtraArguments
from data import knights_knaves as kk
from rewards.knights_knaves import kk_reward

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = ["3ppl", "4ppl", "5ppl", "6ppl", "7ppl"]


def tiny_argv(tiny_model, out, *extra) -> list[str]:
    """Every stage in miniature: 2 steps of 2 prompts x 2 completions of 8 tokens, 2 test puzzles per size."""
    return ["--model_name_or_path", str(tiny_model), "--output_dir", str(out), "--max_prompt_tokens", "4096",
            "--max_completion_length", "8", "--lora_r", "8", "--lora_alpha", "16", "--max_steps", "2",
            "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1", "--num_generations", "2",
            "--puzzles", "8", "--eval_limit", "2", "--eval_batch_size", "10", "--save_steps", "1", *extra]


def parsed(*argv) -> tuple:
    """The command line as `run` parses it for the recipe: (args, training_args, curriculum)."""
    return parse_args(recipe.DEFAULTS, list(argv), ExtraArguments)


def settings(*argv) -> tuple:
    """What `stage_settings` reads a stage from: the recipe's stage table and defaults, the parsed command line and
    the recipe's own flags."""
    args, _, curriculum = parsed(*argv)
    return STAGES, DEFAULTS, args, curriculum


def temperatures(stage_dir) -> list[tuple[int, float]]:
    history = json.loads((stage_dir / "log_history.json").read_text())
    return [(h["step"], h["temperature"]) for h in history if "temperature" in h]


# ---- the stages' settings --------------------------------------------------------------------------------------

def test_the_stage_table_is_logic_rls_curriculum():
    assert [STAGES[n]["people"] for n in (1, 2, 3)] == [3, 5, 5]
    assert [STAGES[n]["temperature"] for n in (1, 2, 3)] == [1.0, 1.2, 1.2]
    assert [STAGES[n]["final_temperature"] for n in (1, 2, 3)] == [None, None, 0.9]
    assert [STAGES[n]["learning_rate"] for n in (1, 2, 3)] == [4e-7, 4e-7, 2e-7]
    assert [STAGES[n]["num_generations"] for n in (1, 2, 3)] == [32 // 4, 64 // 4, 16 // 4]  # published / 4
    assert sum(STAGES[n]["max_steps"] for n in (1, 2, 3)) == 400
    for stage in STAGES.values():
        assert (stage["top_p"], stage["top_k"], stage["max_completion_length"]) == (1.0, 0, 1024)
        completions = stage["per_device_train_batch_size"] * stage["gradient_accumulation_steps"]
        assert completions == 8 * stage["num_generations"]  # Logic-RL's 8 prompts a step


@pytest.mark.parametrize("number", [1, 2, 3])
def test_each_stage_parses_to_its_settings(number):
    stage = stage_settings(number, *settings())
    t, table = stage.training_args, STAGES[number]
    assert (stage.args.model_name_or_path, stage.args.load_in_4bit, stage.args.max_prompt_tokens) == \
        ("Qwen/Qwen2.5-7B-Instruct-1M", True, 400)
    assert t.output_dir == f"outputs/kk-7b/stage-{number}"
    assert (t.temperature, t.top_p, t.top_k, t.learning_rate) == (table["temperature"], 1.0, 0, table["learning_rate"])
    assert (t.num_generations, t.max_steps) == (table["num_generations"], table["max_steps"])
    assert t.max_completion_length == 1024
    assert t.generation_batch_size == 8 * t.num_generations
    assert (t.beta, t.loss_type, t.lr_scheduler_type.value, t.num_iterations) == (0.001, "bnpo", "constant", 1)
    assert (stage.extra.people, stage.extra.puzzles, stage.extra.final_temperature) == (
        table["people"], table["puzzles"], table["final_temperature"])


def test_flags_and_yaml_win_over_the_stage_settings(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("top_k: 50\nlearning_rate: 1.0e-6\n")
    args, _, curriculum = parsed("--stage", "3", "--temperature", "1.1", "--people", "4", "--config", str(config),
                                 "--output_dir", str(tmp_path / "run"))
    assert (curriculum.stage, curriculum.people, curriculum.final_temperature) == (3, 4, None)  # --temperature: TRL's
    stage = stage_settings(3, STAGES, DEFAULTS, args, curriculum)
    t = stage.training_args
    assert (t.temperature, t.top_k, t.learning_rate) == (1.1, 50, 1e-6)
    assert (stage.extra.people, stage.extra.puzzles, stage.extra.final_temperature) == (4, 900, 0.9)
    assert (t.num_generations, t.max_steps, t.top_p) == (4, 150, 1.0)  # the rest stay stage 3's
    assert t.output_dir == str(tmp_path / "run" / "stage-3")
    # a flag holds for every stage a run trains
    assert stage_settings(1, STAGES, DEFAULTS, args, curriculum).training_args.temperature == 1.1
    stage = stage_settings(2, *settings("--final_temperature", "1.0", "--puzzles", "12"))
    assert (stage.extra.final_temperature, stage.extra.puzzles, stage.extra.people) == (1.0, 12, 5)


def test_bad_curriculum_flags_are_refused(capsys):
    with pytest.raises(RecipeError, match="--stage must be 1, 2 or 3, not 4"):
        parsed("--stage", "4")
    with pytest.raises(RecipeError, match="--people must be from 3 to 8, not 9"):
        parsed("--people", "9")
    with pytest.raises(SystemExit):
        parsed("--help")  # one list: the recipe's flags among the shared ones and TRL's
    printed = capsys.readouterr().out
    assert all(flag in printed for flag in ("--stage", "--people", "--kk_test_dir", "--eval_limit", "--temperature"))


# ---- prompts, data and the answer rule ---------------------------------------------------------------------------

def test_the_prefilled_think_is_continued_in_training_and_evaluation(tiny_model, monkeypatch):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    stage = stage_settings(1, *settings("--puzzles", "3", "--max_prompt_tokens", "4096"))
    row = recipe.load_data(stage, tokenizer)[0]
    text = row["prompt"]
    assert text.endswith("<|im_start|>assistant\n<think>") and text.count("<|im_start|>assistant") == 1
    assert "<think><|im_end|>" not in text
    gold = f"Both cases checked.</think>\n<answer>{row['solution_text']}</answer>"
    assert kk_reward([text], [gold], [row["names"]], [row["solution"]]) == [3.0]  # the reward sees the <think>

    # evaluation renders the same chat prompt the same way; text is used as it is; a user turn gets the usual opening
    rendered = []
    monkeypatch.setattr(generation, "_hf_generate", lambda model, tok, texts, *a: (rendered.extend(texts) or
                                                                               ([""] * len(texts), [0] * len(texts))))
    messages = kk.generate(1, 3, recipe.DATA_SEED, start=recipe.EVAL_PUZZLES)[0]["prompt"]
    generation.generate(None, tokenizer, [messages, "plain text", [{"role": "user", "content": "hi"}]], 4, 2)
    assert rendered == [text, "plain text", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"]


def test_a_long_prompt_is_dropped(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    stage = stage_settings(2, *settings("--puzzles", "4", "--max_prompt_tokens", "10"))
    with pytest.raises(RecipeError, match=r"no usable rows \(4 dropped: prompts longer than 10 tokens\)"):
        recipe.load_data(stage, tokenizer)


def test_test_puzzles_are_never_trained_on():
    args, _ = parse_args(recipe.DEFAULTS, ["--eval_limit", "30"])
    test = recipe.load_eval_sets(args)
    assert list(test) == SIZES and [len(rows) for rows in test.values()] == [30] * 5
    assert all(len(row["names"]) == int(size[0]) for size, rows in test.items() for row in rows)
    held_out = {row["quiz"] for row in kk.generate(recipe.EVAL_PUZZLES, 5, recipe.DATA_SEED)}
    assert set(test["5ppl"]["quiz"]) <= held_out
    training = kk.generate(200, 5, recipe.DATA_SEED, start=recipe.EVAL_PUZZLES)
    assert len(set(training["quiz"])) == 200 and not held_out & set(training["quiz"])


def test_a_puzzle_is_solved_when_every_role_in_the_last_answer_is_right():
    gold = "(1) Ella is a knight\n(2) Jack is a knave\n(3) Mia is a knight"
    row = {"answer": gold}
    right = f"Suppose Ella lies...</think><answer>{gold}</answer>"
    assert TASK.is_correct(right, row) and TASK.follows_format(right)
    assert not TASK.is_correct(right.replace("Jack is a knave", "Jack is a knight"), row)
    assert not TASK.is_correct("Ella is a knight, Jack a knave, Mia a knight.", row)  # no <answer>: not solved
    twice = f"<answer>(1) Ella is a knave</answer> no, wait.</think><answer>{gold}</answer>"
    assert TASK.is_correct(twice, row) and not TASK.follows_format(twice)  # the last answer counts; format apart


@pytest.mark.parametrize("tail, solved, formatted", [
    ("", True, True),
    ("\nHuman: Thanks!\nAssistant: You are welcome.", False, False),  # what follows the fake turn has no answer
    ("\nHuman: Sure?\nAssistant: <think>No.</think><answer>(1) Ella is a knave</answer>", False, True),
])
def test_evaluation_reads_a_fake_turn_as_the_reward_does(tail, solved, formatted):
    gold = "(1) Ella is a knight\n(2) Jack is a knave\n(3) Mia is a knight"
    reply = f"Suppose Ella lies...</think><answer>{gold}</answer>{tail}"
    assert (TASK.is_correct(reply, {"answer": gold}), TASK.follows_format(reply)) == (solved, formatted)
    score = kk_reward([recipe.PREFILL], [reply], [["Ella", "Jack", "Mia"]], [[True, False, True]])[0]
    assert (score == 3.0, score > -3.0) == (solved, formatted)  # -3 is a failed format


def test_evaluation_can_use_logic_rls_test_files(kk_dir):
    args, _ = parse_args(recipe.DEFAULTS, [])
    test = recipe.load_eval_sets(args, ExtraArguments(kk_test_dir=str(kk_dir)))
    assert list(test) == SIZES and [len(rows) for rows in test.values()] == [100] * 5
    for size, rows in test.items():
        for row in rows:
            assert len(row["names"]) == int(size[0])
            assert TASK.is_correct(f"ok</think><answer>{row['answer']}</answer>", row)


# ---- the temperature anneal ------------------------------------------------------------------------------------

def test_the_anneal_sets_one_temperature_per_step_for_sampling_and_log_probs(tiny_model, tmp_path, monkeypatch):
    import trl.trainer.grpo_trainer as grpo

    stage = stage_settings(3, *settings(*tiny_argv(tiny_model, tmp_path, "--max_steps", "4")))
    model, tokenizer = load_model(stage.args)
    trainer = recipe.stage_trainer(model, tokenizer, stage)
    sampled, scored = [], []

    def recording(original):
        def logps(*a, temperature=1.0, **k):
            scored.append((trainer.state.global_step, temperature))
            return original(*a, temperature=temperature, **k)
        return logps

    for name in ("selective_log_softmax", "selective_log_softmax_and_entropy"):
        monkeypatch.setattr(grpo, name, recording(getattr(grpo, name)))
    generate = model.generate

    def recording_generate(*a, generation_config, **k):
        sampled.append((trainer.state.global_step, generation_config.temperature,
                        trainer.generation_kwargs["temperature"]))
        return generate(*a, generation_config=generation_config, **k)

    monkeypatch.setattr(model, "generate", recording_generate)
    trainer.train()

    expected = [1.2, 1.1, 1.0, 0.9]
    assert [s for s, _, _ in sampled] == [0, 1, 2, 3]
    assert [t for _, t, _ in sampled] == pytest.approx(expected)
    assert [t for _, _, t in sampled] == pytest.approx(expected)
    assert {s for s, _ in scored} == {0, 1, 2, 3}  # the reference model's and the policy's log-probs, every step
    assert all(t == pytest.approx(expected[s]) for s, t in scored)
    logged = [h["temperature"] for h in trainer.state.log_history if "temperature" in h]
    assert logged == pytest.approx(expected)


def test_an_anneal_over_reused_completions_is_refused(tiny_model, tmp_path):
    stage = stage_settings(3, *settings(*tiny_argv(tiny_model, tmp_path, "--num_iterations", "2")))
    model, tokenizer = load_model(stage.args)
    with pytest.raises(RecipeError, match="a temperature anneal needs new completions every step"):
        recipe.stage_trainer(model, tokenizer, stage)


# ---- end to end --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def curriculum_run(tiny_model, tmp_path_factory):
    """All three stages in one run, as `make kk-7b` does, in miniature."""
    out = tmp_path_factory.mktemp("kk") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report = recipe.main(*parsed(*tiny_argv(tiny_model, out)))
    return out, report, printed.getvalue()


def test_the_three_stages_train_in_order_and_are_evaluated(curriculum_run):
    out, report, printed = curriculum_run
    for number, expected in ((1, [1.0, 1.0]), (2, [1.2, 1.2]), (3, [1.2, 0.9])):
        stage_dir = out / f"stage-{number}"
        assert {"checkpoint-1", "checkpoint-2", "adapter", "log_history.json", "completions.jsonl"} <= set(
            os.listdir(stage_dir))
        steps, temps = zip(*temperatures(stage_dir))
        assert steps == (1, 2) and list(temps) == pytest.approx(expected)
    assert f"starting from {out / 'stage-1' / 'adapter'}" in printed
    assert f"[report] {out / 'report.html'}" in printed and "after stage 3" in (out / "report.html").read_text()
    assert f"starting from {out / 'stage-2' / 'adapter'}" in printed
    assert "[stage 2] 5-person puzzles, 2 steps of 2 prompts x 2 completions, temperature 1.2, learning rate 4e-07" \
        in printed
    assert "temperature 1.2 -> 0.9, learning rate 2e-07" in printed

    before = json.loads((out / "eval_before.json").read_text())
    after = json.loads((out / "stage-3" / "eval_after.json").read_text())
    for result in (before, after):
        assert result["eval_set"] == "generated" and list(result["sets"]) == SIZES
        assert all(size["n"] == 2 and len(size["records"]) == 2 for size in result["sets"].values())
    assert json.loads((out / "kk_results.json").read_text()) == report
    assert list(report["before"]) == list(report["after"]) == SIZES + ["avg"]
    assert report["after_stage"] == 3 and report["published_5ppl"] == [0.2, 0.41]
    table = printed[printed.index("\n" + " " * 16 + "   3ppl"):].splitlines()[1:]
    assert table[0].split() == SIZES + ["avg"]
    assert table[1].split()[0] == "before" and table[2].startswith("after stage 3")
    assert [float(x) for x in table[2].split()[3:]] == [round(report["after"][c], 2) for c in SIZES + ["avg"]]
    assert "after stage 3" in printed and "published: 5ppl 0.20 -> 0.41" in printed
    assert "(2 puzzles per size, generated with seed 2025; greedy decoding)" in printed


def test_a_stage_starts_from_the_previous_stages_adapter(curriculum_run, tiny_model, tmp_path):
    out, _, _ = curriculum_run
    shutil.copytree(out / "stage-1" / "adapter", tmp_path / "stage-1" / "adapter")
    weights_file = tmp_path / "stage-1" / "adapter" / "adapter_model.safetensors"
    torch.manual_seed(0)  # stands in for a trained stage 1: a LoRA far from the fresh one
    stage_1 = {k: torch.randn_like(v) * 0.5 if "lora_B" in k else v for k, v in load_file(weights_file).items()}
    save_file(stage_1, weights_file)

    recipe.main(*parsed(*tiny_argv(tiny_model, tmp_path, "--stage", "2", "--max_steps", "1", "--skip_eval")))
    stage_2 = load_file(tmp_path / "stage-2" / "adapter" / "adapter_model.safetensors")
    assert stage_2.keys() == stage_1.keys()
    for key, value in stage_1.items():  # one step at learning rate 4e-7 moves no weight further than that
        torch.testing.assert_close(stage_2[key], value, atol=1e-5, rtol=0)


def test_a_full_fine_tune_hands_its_model_on_from_stage_to_stage(tiny_model, tmp_path, capsys):
    """--use_peft false (Logic-RL trained every weight): each stage saves its whole model, the next starts from it,
    in one run or one stage a launch (as FSDP2 and ZeRO-3 train it)."""
    full = ("--use_peft", "false", "--max_steps", "1", "--skip_eval")
    recipe.main(*parsed(*tiny_argv(tiny_model, tmp_path / "run", *full)))
    printed = capsys.readouterr().out
    for number in (1, 2, 3):
        assert (tmp_path / "run" / f"stage-{number}" / "model" / "model.safetensors").is_file()
    assert "[stage 3]" in printed and "model saved to" in printed

    one = tmp_path / "one-stage-a-launch"
    shutil.copytree(tmp_path / "run" / "stage-1" / "model", one / "stage-1" / "model")
    weights_file = one / "stage-1" / "model" / "model.safetensors"
    torch.manual_seed(0)  # stands in for a trained stage 1: weights far from the base model's
    stage_1 = {k: v + torch.randn_like(v) * 0.5 for k, v in load_file(weights_file).items()}
    save_file(stage_1, weights_file, metadata={"format": "pt"})
    recipe.main(*parsed(*tiny_argv(tiny_model, one, *full, "--stage", "2")))
    stage_2 = load_file(one / "stage-2" / "model" / "model.safetensors")
    assert stage_2.keys() == stage_1.keys()
    for key, value in stage_1.items():  # one step at learning rate 4e-7 moves no weight further than that
        torch.testing.assert_close(stage_2[key], value, atol=1e-5, rtol=0)


def test_a_stage_line_counts_the_prompts_of_every_process(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(recipe, "NUM_PROCESSES", 2)  # under accelerate each process takes its own prompts
    recipe.main(*parsed(*tiny_argv(tiny_model, tmp_path, "--stage", "1", "--max_steps", "1", "--skip_eval")))
    assert "[stage 1] 3-person puzzles, 1 steps of 4 prompts x 2 completions" in capsys.readouterr().out


def test_an_adapter_of_another_shape_is_refused(curriculum_run, tiny_model, tmp_path):
    out, _, _ = curriculum_run
    args, _ = parse_args(recipe.DEFAULTS, ["--model_name_or_path", str(tiny_model), "--lora_r", "16"])
    with pytest.raises(RecipeError, match="has LoRA rank 8 .* pass the same --lora_r"):
        start_from(None, str(out / "stage-1" / "adapter"), args)


def test_a_stage_without_the_previous_adapter_is_a_one_line_error(tiny_model, tmp_path):
    done = subprocess.run([sys.executable, "-m", "recipes.knights_knaves_7b", "--stage", "3", "--model_name_or_path",
                           str(tiny_model), "--output_dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (f"error: stage 3 starts from stage 2's adapter, and there is none "
                                                   f"at {tmp_path / 'stage-2' / 'adapter'}: train stage 2 first")


def test_a_stage_resumes_from_its_last_checkpoint_on_its_schedule(curriculum_run, tiny_model, tmp_path, capsys):
    out, _, _ = curriculum_run
    shutil.copytree(out / "stage-2" / "adapter", tmp_path / "stage-2" / "adapter")
    recipe.main(*parsed(*tiny_argv(tiny_model, tmp_path, "--stage", "3", "--skip_eval")))
    recipe.main(*parsed(*tiny_argv(tiny_model, tmp_path, "--stage", "3", "--skip_eval", "--max_steps", "4",
                          "--resume_from_checkpoint", "last")))
    assert f"resuming from {tmp_path / 'stage-3' / 'checkpoint-2'}" in capsys.readouterr().out
    steps, temps = zip(*temperatures(tmp_path / "stage-3"))
    # 2 steps from 1.2 to 0.9, then steps 3 and 4 of a 4-step anneal
    assert steps == (1, 2, 3, 4) and list(temps) == pytest.approx([1.2, 0.9, 1.0, 0.9])


def test_a_stopped_curriculum_resumes_where_it_stopped(curriculum_run, tiny_model, tmp_path, capsys):
    out, _, _ = curriculum_run
    shutil.copytree(out / "stage-1", tmp_path / "stage-1")  # stage 1 done; stage 2 stopped after one step
    shutil.copytree(out / "stage-2" / "checkpoint-1", tmp_path / "stage-2" / "checkpoint-1")
    before = json.loads((out / "eval_before.json").read_text())
    before["sets"]["3ppl"]["accuracy"] = 12.5
    (tmp_path / "eval_before.json").write_text(json.dumps(before))

    report = recipe.main(*parsed(*tiny_argv(tiny_model, tmp_path, "--resume_from_checkpoint", "last")))
    printed = capsys.readouterr().out
    assert "[stage 1]" not in printed and "[stage 2]" in printed and "[stage 3]" in printed
    assert f"resuming from {tmp_path / 'stage-2' / 'checkpoint-1'}" in printed
    assert [s for s, _ in temperatures(tmp_path / "stage-2")] == [1, 2]
    assert [s for s, _ in temperatures(tmp_path / "stage-3")] == [1, 2]
    assert report["before"]["3ppl"] == 0.125  # the evaluation made before stage 1 is kept

    capsys.readouterr()
    assert recipe.main(*parsed(*tiny_argv(tiny_model, tmp_path, "--resume_from_checkpoint", "last"))) is None
    assert "every stage has its adapter" in capsys.readouterr().out
