"""System A: GSM8K with Qwen2.5-0.5B-Instruct on one home GPU, after the "RTX 3090" blog post.

Published: greedy accuracy on the GSM8K test split went from 8.87 % to 65.28 %.

    make gsm8k-0.5b                       # the whole run, ~470 steps of 16 questions x 2 answers
    make gsm8k-0.5b ARGS="--max_steps 50" # any GRPOConfig field or recipe flag, as with `trl grpo`
"""

from recipes.common.args import LORA_MODULES, run  # first: imports Unsloth
from recipes.common.checkpoints import check_output_dir
from recipes.common.evaluation import Task, evaluate_stage, results_table
from recipes.common.model import load_model
from recipes.common.training import train
from trl import GRPOTrainer  # noqa: E402

from data import gsm8k
from recipes.tools.report import write_report
from rewards.gsm8k import custom_reward
from rewards.text import first_tag, has_tag_pair

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"  # the post's
DATASET, DATASET_CONFIG = gsm8k.HUB_ID, "main"  # the post's: GSM8K's train split to learn, its test split to judge

# The post's exact system prompt is not published; ours asks for the same three tagged parts.
SYSTEM_PROMPT = """Respond in the following format:
<reasoning>
Break the problem down and reason through it step by step.
</reasoning>
<validate>
Criticise the reasoning above. If you see something wrong, start with 'wait'.
</validate>
<answer>
The final answer as an integer, justified by the validation.
</answer>"""

# The post's one composite reward, quirks kept (rewards/gsm8k.py): its length bonuses and x10 "wait/but/rethink"
# multiplier dwarf correctness (+5); the reasoning bonus drops from ~10 to 5.0 at 1024 words; "but" also matches
# inside "butter". Changed: each completion is scored against its own gold answer (the post compared all of them
# with the first of the batch).
REWARDS = [custom_reward]

DEFAULTS = dict(
    model_name_or_path=MODEL, dataset_name=DATASET, dataset_config=DATASET_CONFIG, output_dir="outputs/gsm8k-0.5b",
    max_seq_length=1024, max_prompt_tokens=256,
    # 4-bit (the post passed load_in_4bit=False); vLLM takes half the GPU, not the post's 0.8: with 0.8 a 24 GB card
    # peaked at 22.3 GB, with little room left for a display (`--vllm_gpu_memory_utilization 0.8` restores it)
    load_in_4bit=True, vllm_gpu_memory_utilization=0.5,
    lora_r=32, lora_alpha=64, lora_target_modules=LORA_MODULES, lora_random_state=1907,  # the post's LoRA
    learning_rate=3e-5, adam_beta1=0.9, adam_beta2=0.99, weight_decay=0.1, warmup_steps=5,  # the post's optimiser
    lr_scheduler_type="cosine", optim="paged_adamw_8bit", max_grad_norm=1.0, bf16=True,
    # 2 answers a question, the post's: a very small group for GRPO's group-relative advantage. The post trained a
    # step's 32 completions one at a time (1 x 32); 16 at a time (16 x 2) is the same update with the "grpo" loss
    # (each completion's token mean, averaged) and much faster on a GPU (BENCHMARKS.md);
    # `--per_device_train_batch_size 1 --gradient_accumulation_steps 32` restores the post's
    per_device_train_batch_size=16, gradient_accumulation_steps=2, num_generations=2,
    max_completion_length=512, num_train_epochs=1, logging_steps=1, save_steps=100,
    # not stated by the post: TRL's defaults when it was written (early 2025), not today's (beta 0, "dapo")
    beta=0.04, loss_type="grpo",
)

TASK = Task(
    name="gsm8k-0.5b",
    is_correct=lambda text, row: (first_tag(text, "answer") or "") == row["answer"],  # the reward's +5 rule
    follows_format=lambda text: all(has_tag_pair(text, t) for t in ("reasoning", "validate", "answer")),
    published=(8.87, 65.28),
)


def load_data(args, training_args, tokenizer):
    """GSM8K's train split, prompts longer than --max_prompt_tokens dropped."""
    return gsm8k.load(args.dataset_name, args.dataset_train_split, SYSTEM_PROMPT, tokenizer, args.max_prompt_tokens,
                      args.dataset_config)


def load_eval_sets(args):
    """GSM8K's test split, all of it (long prompts kept)."""
    return {"test": gsm8k.load(args.dataset_name, args.dataset_test_split, SYSTEM_PROMPT, config=args.dataset_config)}


def main(args, training_args):
    check_output_dir(training_args)  # a new run gets a folder of its own; a resumed one goes on in its folder
    model, tokenizer = load_model(args, training_args)
    train_set, eval_sets = load_data(args, training_args, tokenizer), load_eval_sets(args)
    before = evaluate_stage("before", model, tokenizer, eval_sets, TASK, args, training_args)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=REWARDS,
                          args=training_args, train_dataset=train_set)
    adapter_dir = train(trainer, args, training_args)
    after = evaluate_stage("after", model, tokenizer, eval_sets, TASK, args, training_args, lora_path=adapter_dir)
    print(results_table(before, after, TASK.published))
    print(f"[report] {write_report(training_args.output_dir, TASK.published)}")


if __name__ == "__main__":
    run(main, DEFAULTS)
