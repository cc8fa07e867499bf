"""Countdown with Qwen2.5-3B, after TinyZero: with reinforcement learning alone, a base model learns to write an
equation that uses each of 3 or 4 given numbers once and equals a target.

Published: TinyZero publishes its runs as curves (wandb.ai/jiayipan/TinyZero) and no table of accuracies, so the
table has no published column. Its README says the 3B base model "develops self-verification and search abilities
all on its own", and that Qwen2.5-0.5B "fails to learn reasoning". Accuracy here is TinyZero's score of 1.0 on its
1,024 test puzzles, greedy as in its validation; lenient accuracy reads the whole reply, not only its last line
(rewards/countdown.py).

    make countdown-3b                                                  # 300 steps of 16 puzzles x 5 answers
    make countdown-3b ARGS="--chat true"                               # TinyZero's Instruct ablation
    make countdown-3b ARGS="--dataset_name ../shared/data/countdown"   # a folder of train/test parquet or JSONL
    make countdown-3b ARGS="--puzzles 5000"                            # generated puzzles, each one solvable
    make eval RECIPE=countdown_3b ADAPTER=outputs/countdown-3b/adapter  # ARGS="--chat true" for a --chat run's
"""

from dataclasses import dataclass, field

from recipes.common.args import LORA_MODULES, parse_again, run  # first: imports Unsloth
from recipes.common.checkpoints import check_output_dir
from recipes.common.evaluation import Task, evaluate_stage, results_table
from recipes.common.model import load_model
from recipes.common.training import train
from recipes.errors import RecipeError
from trl import GRPOTrainer  # noqa: E402
from trl.data_utils import maybe_apply_chat_template  # noqa: E402

from data import countdown
from data.prompts import drop_long_prompts
from recipes.tools.report import write_report
from rewards.countdown import countdown_reward, countdown_score
from rewards.text import last_tag_match

MODEL = "Qwen/Qwen2.5-3B"  # TinyZero's base model, with its base-model prompt (data/countdown.py)
CHAT_MODEL = "Qwen/Qwen2.5-3B-Instruct"  # TinyZero's Instruct ablation, with its chat prompt (--chat)
# TinyZero's data: the hub set's first 327,680 rows to train, the next 1,024 to test (data/countdown.py)
DATASET = countdown.HUB_ID
# --puzzles: generated puzzles from one seeded stream (ours), its first 1,024 to test and the next ones to train
DATA_SEED = 2025

# TinyZero's rules (verl/utils/reward_score/countdown.py), quirks kept: only the reply's last line is read, and a
# wrong answer in the right format still earns 0.1. Changed: no `eval` of the model's text (rewards/countdown.py).
REWARDS = [countdown_reward]

# TinyZero's own README trains with PPO (scripts/train_tiny_zero.sh); its GRPO settings are those of
# scripts/train_tiny_zero_a100_grpo.sh (TinyZero pull request #119, commit 8641a78, "Set up to reproduce results").
# veRL fully fine-tuned the model there, on two GPUs for the 3B (TinyZero's README); here a 4-bit LoRA trains on one
# 24 GB GPU.
DEFAULTS = dict(
    model_name_or_path=MODEL, dataset_name=DATASET, output_dir="outputs/countdown-3b",
    # TinyZero's limits: prompts of 256 tokens (its prompts fit; longer ones are dropped), answers of 1,024
    max_seq_length=256 + 1024, max_prompt_tokens=256, max_completion_length=1024,
    vllm_gpu_memory_utilization=0.4,  # TinyZero's vLLM share
    # Unsloth computes a step's log-probabilities 8 completions at a time, as in knights_knaves_7b.py, where, left to
    # choose, it took a whole step's 64 at once and ran out of a 24 GB card's memory
    unsloth_grpo_mini_batch=8,
    lora_r=32, lora_alpha=64, lora_target_modules=LORA_MODULES,  # ours: TinyZero trained every weight
    # A step: TinyZero updated on 64 puzzles x 5 answers (ppo_mini_batch_size 64, rollout.n 5), 4 completions at a
    # time (ppo_micro_batch_size 4); each rollout of 128 puzzles (train_batch_size) made two such updates. Ours: 16
    # puzzles x 5 answers, 4 at a time, generated afresh for every update: a quarter of TinyZero's update, for one
    # GPU instead of two. `--gradient_accumulation_steps 80` makes TinyZero's update, `--steps_per_generation 160`
    # its two updates a rollout.
    num_generations=5, per_device_train_batch_size=4, gradient_accumulation_steps=20,
    # 10 x TinyZero's 1e-6: a LoRA learns best at about ten times the rate of full fine-tuning ("LoRA Without
    # Regret", Thinking Machines, 2025); `--learning_rate 1e-6` restores TinyZero's. The rest of the optimiser is
    # veRL's: AdamW, weight decay 0.01, a constant rate, gradients clipped at 1.0.
    learning_rate=1e-5, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.01, max_grad_norm=1.0,
    # TinyZero's: a KL loss of 0.001 with the k3 estimator (low_var_kl; TRL's beta), clip 0.2, advantages normalised
    # within each puzzle's group, sampling at temperature 1.0, a token mean over each micro-batch (veRL's
    # masked_mean, TRL's "bnpo"; Unsloth's divides by the whole step's tokens, see knights_knaves_7b.py). Not in
    # TRL: veRL's entropy bonus of 0.001.
    beta=0.001, epsilon=0.2, num_iterations=1, scale_rewards="group", loss_type="bnpo", temperature=1.0, top_p=1.0,
    # TinyZero set 15 epochs of 327,680 puzzles (38,400 rollouts of 128); 300 steps (4,800 puzzles) are ours
    max_steps=300,
    save_steps=10, save_total_limit=3,  # the script's save_freq 10 and keep_last_n_checkpoints 3
    logging_steps=1, bf16=True,
)


def solved(text: str, row: dict) -> bool:
    """TinyZero's score is 1.0: the last line's last <answer> uses each number once and equals the target."""
    return countdown_score(row["prompt"], text, row["nums"], row["target"]) == 1.0


def solved_anywhere(text: str, row: dict) -> bool:
    """The same, for the last <answer> anywhere in the reply."""
    return countdown_score(row["prompt"], text, row["nums"], row["target"], whole_reply=True) == 1.0


TASK = Task(
    name="countdown-3b",
    is_correct=solved,
    follows_format=lambda text: last_tag_match(text, "answer") is not None,  # an <answer>…</answer> anywhere
    is_lenient_correct=solved_anywhere,
    gold_columns=("nums", "target"),
)


@dataclass
class ExtraArguments:
    chat: bool = field(default=False, metadata={
        "help": "TinyZero's Instruct ablation: its chat prompt, the assistant's turn pre-filled, and "
                "Qwen2.5-3B-Instruct unless --model_name_or_path names another model."})
    puzzles: int | None = field(default=None, metadata={
        "help": "Train on this many generated puzzles (seeded, each solvable) and test on 1,024 others, instead of "
                "--dataset_name."})

    def __post_init__(self):
        if self.puzzles is not None and self.puzzles < 1:
            raise RecipeError(f"--puzzles must be at least 1, not {self.puzzles}")


def load_data(args, training_args, tokenizer, extra: ExtraArguments):
    """TinyZero's training puzzles (or --puzzles generated ones), prompts longer than --max_prompt_tokens dropped;
    chat prompts rendered to text that continues the pre-filled assistant turn (TRL 1.14.2's GRPOTrainer would close
    that turn and open a new one)."""
    if extra.puzzles:
        rows = countdown.generate(extra.puzzles, DATA_SEED, extra.chat, start=countdown.TEST_SIZE)
        rows = drop_long_prompts(rows, tokenizer, args.max_prompt_tokens)
    else:
        rows = countdown.load(args.dataset_name, args.dataset_train_split, extra.chat, tokenizer,
                              args.max_prompt_tokens)
    return rows.map(lambda row: maybe_apply_chat_template(row, tokenizer)) if extra.chat else rows


def load_eval_sets(args, extra: ExtraArguments | None = None):
    """TinyZero's 1,024 test puzzles, or with --puzzles the first 1,024 of the generated stream (or --eval_limit)."""
    chat = bool(extra and extra.chat)
    if extra and extra.puzzles:
        count = countdown.TEST_SIZE if args.eval_limit is None else min(args.eval_limit, countdown.TEST_SIZE)
        return {"generated": countdown.generate(count, DATA_SEED, chat)}
    return {"test": countdown.load(args.dataset_name, args.dataset_test_split, chat)}


def defaults_for(extra) -> dict:
    """The defaults with this recipe's own flags applied: --chat takes the Instruct model (a flag or a --config key
    that names another still wins). `make eval` reads them too."""
    return {**DEFAULTS, "model_name_or_path": CHAT_MODEL} if extra.chat else DEFAULTS


def main(args, training_args, extra):
    check_output_dir(training_args)  # a new run gets a folder of its own; a resumed one goes on in its folder
    if extra.chat:
        args, training_args, extra = parse_again(args, defaults_for(extra))
    model, tokenizer = load_model(args, training_args)
    train_set, eval_sets = load_data(args, training_args, tokenizer, extra), load_eval_sets(args, extra)
    before = evaluate_stage("before", model, tokenizer, eval_sets, TASK, args, training_args)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=REWARDS,
                          args=training_args, train_dataset=train_set)
    adapter_dir = train(trainer, args, training_args)
    after = evaluate_stage("after", model, tokenizer, eval_sets, TASK, args, training_args, lora_path=adapter_dir)
    print(results_table(before, after, TASK.published))
    print(f"[report] {write_report(training_args.output_dir, TASK.published)}")


if __name__ == "__main__":
    run(main, DEFAULTS, ExtraArguments)
