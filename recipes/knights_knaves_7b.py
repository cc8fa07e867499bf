"""System C: Knights and Knaves with Qwen2.5-7B-Instruct-1M, after Logic-RL's three-stage curriculum.

Published: 5-person test accuracy 0.20 -> 0.41 after about 400 steps on 4 A100s (GPT-4o: about 0.30); the mean
response grew from 400 to 650 tokens. Each stage (STAGES) is a GRPO run on generated puzzles, starting from the
previous stage's LoRA adapter; each stage's settings are defaults: a flag or a --config key still wins, in every stage
the run trains (to change one stage only, run it alone with --stage N).

    make kk-7b                                            # stages 1, 2 and 3 in order, then the before/after table
    make kk-7b ARGS="--stage 2"                           # one stage; it starts from outputs/kk-7b/stage-1/adapter
    make kk-7b ARGS="--resume_from_checkpoint last"       # continue a stopped run where it stopped
    make kk-7b ARGS="--kk_test_dir ../shared/data/knights_knaves"  # evaluate on Logic-RL's test files
    make kk-7b GPUS=4 ARGS="--stage 1"                    # on 4 GPUs (FSDP2): one stage a launch, then 2, then 3
    make kk-7b GPUS=4 ARGS="--stage 1 --use_peft false"   # a full fine-tune, as Logic-RL's; stage 2 starts from
                                                          # outputs/kk-7b/stage-1/model
"""

import os
import re
from dataclasses import dataclass, field

from recipes.common.args import LORA_MODULES, RecipeArguments, run  # first: imports Unsloth
from recipes.common.evaluation import Task, accuracies, accuracy_table, evaluate_stage, read_evaluation
from recipes.common.model import load_model
from recipes.common.processes import write_json
from recipes.common.stages import Stage, check_stages, stage_settings, stages_to_train, start_from
from recipes.common.start import NUM_PROCESSES
from recipes.common.temperature import TemperatureSchedule
from recipes.common.training import train
from recipes.errors import RecipeError
from trl import GRPOTrainer  # noqa: E402
from trl.data_utils import maybe_apply_chat_template  # noqa: E402

from data import knights_knaves as kk
from data.prompts import drop_long_prompts
from recipes.tools.report import write_report
from rewards.knights_knaves import format_ok, kk_reward, parse_roles, scored_turn
from rewards.text import last_tag

MODEL = "Qwen/Qwen2.5-7B-Instruct-1M"  # Logic-RL's
# Puzzles generated in Logic-RL's format (data/knights_knaves.py), the system prompt theirs; the pools of 400
# three-person and 900 five-person puzzles are ours (stages 2 and 3 share theirs; Logic-RL had fewer than 2,000)
DATA_SEED = 2025
# greedy evaluation on 3- to 7-person puzzles, before stage 1 and after the last stage a run trains: the first 100
# of each size's seeded stream (or Logic-RL's test files, --kk_test_dir); training takes the ones after them
EVAL_SIZES = (3, 4, 5, 6, 7)
EVAL_PUZZLES = 100

# Logic-RL's curriculum: GRPOConfig fields, plus the puzzle size, the number of training puzzles and the temperature
# the stage ends at (None: no anneal). A step's completions, per_device_train_batch_size x
# gradient_accumulation_steps, are Logic-RL's 8 prompts x num_generations. The split of about 400 steps into
# 50 + 200 + 150 is ours.
# - Rollouts a prompt are a quarter of the published 32, 64 and 16, so that a step's completions fit one 24 GB GPU
#   (random weights on a 24 GB GPU: 20.7, 21.1 and 21.7 GB, BENCHMARKS.md): large, larger, small. With less
#   memory, halve per_device_train_batch_size and double gradient_accumulation_steps, stage by stage (--stage N).
# - Learning rate: 4e-7 in stages 1 and 2, the rate of the Logic-RL paper (the three-stage account gives only stage
#   3's, a constant 2e-7). Logic-RL fully fine-tuned the model; a LoRA usually wants a larger rate: if the reward
#   does not move, raise --learning_rate.
# - Sampling: TRL's defaults (top-p 1.0, top-k 0) already sample from the whole distribution, so stage 2's
#   "loosened" top-p/top-k cannot go further: it differs from stage 1 by its temperature (Logic-RL's 1.5 broke into
#   gibberish). Stage 3 lowers the temperature at the start of every step, in a straight line from 1.2 to 0.9
#   (TemperatureSchedule); the log-probabilities use the same temperature, as in Logic-RL's trainer.
# - Completions stop at 1,024 tokens (Logic-RL allowed 2,048; its mean responses stayed under 650).
STAGES = {
    1: dict(people=3, puzzles=400, max_steps=50, learning_rate=4e-7,
            temperature=1.0, final_temperature=None, top_p=1.0, top_k=0,
            num_generations=8, per_device_train_batch_size=8, gradient_accumulation_steps=8,
            max_completion_length=1024),
    2: dict(people=5, puzzles=900, max_steps=200, learning_rate=4e-7,
            temperature=1.2, final_temperature=None, top_p=1.0, top_k=0,
            num_generations=16, per_device_train_batch_size=8, gradient_accumulation_steps=16,
            max_completion_length=1024),
    3: dict(people=5, puzzles=900, max_steps=150, learning_rate=2e-7,
            temperature=1.2, final_temperature=0.9, top_p=1.0, top_k=0,
            num_generations=4, per_device_train_batch_size=8, gradient_accumulation_steps=4,
            max_completion_length=1024),
}

DEFAULTS = dict(
    model_name_or_path=MODEL, output_dir="outputs/kk-7b",
    # prompts longer than 400 tokens, Logic-RL's limit, are dropped; 400-token prompts + 1,024-token replies
    max_seq_length=1536, max_prompt_tokens=400, vllm_gpu_memory_utilization=0.5,
    # Unsloth computes the batch's log-probabilities 8 completions at a time: left to choose, it took all 64 at once
    # and ran out of a 24 GB card's memory (README, "GPU measurements")
    unsloth_grpo_mini_batch=8,
    lora_r=32, lora_alpha=64, lora_target_modules=LORA_MODULES,
    # Logic-RL's GRPO script: KL coefficient 0.001 with the k3 estimator, clip 0.2, one update per batch, a token mean
    # over each micro-batch (TRL's "bnpo"). Two things differ by engine. The KL reference: Unsloth (on a GPU) takes
    # the base model in every stage; plain TRL (on a CPU, or GRPO_ENGINE=trl) a frozen copy of the adapter the stage
    # starts from, and with --use_peft false the model the stage starts from (as Logic-RL's). The token mean: by its
    # source, Unsloth 2026.10.7's "bnpo" divides by the token count of the whole step, not of each micro-batch; the two
    # agree when the micro-batches hold equally many tokens.
    lr_scheduler_type="constant", beta=0.001, epsilon=0.2, num_iterations=1, loss_type="bnpo", scale_rewards="group",
    logging_steps=1, save_steps=50, bf16=True,
)

# Logic-RL's reward (rewards/knights_knaves.py). A reply that writes "Assistant:" (a fake next turn) is judged on
# what follows the first one alone, as Logic-RL's scorer did (`kk_whole_reply_reward` reads it all).
REWARDS = [kk_reward]

# The assistant's turn is pre-filled with "<think>" in every prompt (data/knights_knaves.py), so prompts are rendered
# to text before training: TRL 1.14.2's GRPOTrainer would close a pre-filled chat turn and open a new one.
PREFILL = "<think>"
GOLD_LINE = re.compile(r"^\(\d+\) (.+) is a (knight|knave)$", re.MULTILINE)  # "(1) Ella is a knight"


def all_roles_right(text: str, row: dict) -> bool:
    """The reward's +2 rule: every role right in the last <answer> of the part of the reply the reward reads (the
    format is judged apart)."""
    roles = dict(GOLD_LINE.findall(row["answer"]))
    answer = last_tag(scored_turn(PREFILL, text), "answer")
    return bool(answer) and parse_roles(answer, list(roles)) == roles


TASK = Task(
    name="kk-7b",
    is_correct=all_roles_right,
    follows_format=lambda text: format_ok(scored_turn(PREFILL, text)),
    published=(20.0, 41.0),  # 5-person puzzles
)


@dataclass
class ExtraArguments:
    stage: int | None = field(default=None, metadata={"help": "Train this stage only (1, 2 or 3); default: all."})
    people: int | None = field(default=None, metadata={"help": "Puzzle size to train on (default: the stage's)."})
    puzzles: int | None = field(default=None, metadata={"help": "Training puzzles (default: the stage's)."})
    final_temperature: float | None = field(default=None, metadata={
        "help": "Anneal the temperature from --temperature to this over the stage (default: the stage's)."})
    kk_test_dir: str | None = field(default=None, metadata={
        "help": "Evaluate on Logic-RL's DIR/{3..7}ppl/test.parquet instead of generated puzzles."})

    def __post_init__(self):
        if self.stage is not None and self.stage not in STAGES:
            raise RecipeError(f"--stage must be 1, 2 or 3, not {self.stage}")
        if self.people is not None and not kk.MIN_PEOPLE <= self.people <= kk.MAX_PEOPLE:
            raise RecipeError(f"--people must be from {kk.MIN_PEOPLE} to {kk.MAX_PEOPLE}, not {self.people}")


# --- Data ------------------------------------------------------------------------------------------------------

def load_data(stage: Stage, tokenizer):
    """The stage's training puzzles, prompts rendered to text so that the pre-filled "<think>" turn is continued."""
    rows = kk.generate(stage.extra.puzzles, stage.extra.people, DATA_SEED, start=EVAL_PUZZLES)
    rows = rows.map(lambda row: maybe_apply_chat_template(row, tokenizer))
    return drop_long_prompts(rows, tokenizer, stage.args.max_prompt_tokens)


def load_eval_sets(args: RecipeArguments, extra: ExtraArguments | None = None) -> dict:
    """{"3ppl": rows, …, "7ppl": rows}: generated held-out puzzles, or Logic-RL's test files (--kk_test_dir); 100 of
    each size, or --eval_limit."""
    count = EVAL_PUZZLES if args.eval_limit is None else args.eval_limit
    return kk.eval_sets(EVAL_SIZES, count, DATA_SEED, EVAL_PUZZLES, extra.kk_test_dir if extra else None)


# --- Training --------------------------------------------------------------------------------------------------

def stage_trainer(model, tokenizer, stage: Stage) -> GRPOTrainer:
    if "ref" in getattr(model, "peft_config", {}):
        # plain TRL keeps the adapter a stage starts from as a frozen "ref" copy, its KL reference; the next stage's
        # trainer makes a new one
        model.delete_adapter("ref")
    training_args = stage.training_args
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=REWARDS, args=training_args,
                          train_dataset=load_data(stage, tokenizer))
    end = training_args.temperature if stage.extra.final_temperature is None else stage.extra.final_temperature
    trainer.add_callback(TemperatureSchedule(trainer, training_args.temperature, end))
    return trainer


# --- The run ---------------------------------------------------------------------------------------------------

def main(args, training_args, curriculum) -> dict | None:
    """Train the stages asked for (all three by default) and evaluate before and after. The command line is read
    again for each stage, over that stage's settings. Returns the table's numbers (None with --skip_eval)."""
    stages = [stage_settings(n, STAGES, DEFAULTS, args, curriculum)
              for n in ([curriculum.stage] if curriculum.stage else STAGES)]
    root = training_args.output_dir
    stages = stages_to_train(stages, STAGES)
    if not stages:
        print(f"[train] every stage has its {'adapter' if args.use_peft else 'model'} in {root}: nothing to resume")
        return None
    check_stages(stages)  # a missing adapter or checkpoint fails here, before the model loads
    first, last = stages[0], stages[-1]
    args = first.args
    eval_set = curriculum.kk_test_dir or "generated"
    sets = None if args.skip_eval else load_eval_sets(args, curriculum)

    if first.number > 1 and not args.use_peft:  # a whole model: the one the stage before saved
        args.model_name_or_path = first.previous_saved
    model, tokenizer = load_model(args, first.training_args)
    if first.number == 1:
        before = evaluate_stage("before", model, tokenizer, sets, TASK, args, first.training_args, key=eval_set,
                                folder=root)
    else:  # made by the run that trained stage 1
        before = read_evaluation(os.path.join(root, "eval_before.json"), eval_set)

    for stage in stages:
        if stage.number > 1 and args.use_peft:
            start_from(model, stage.previous_saved, stage.args)
        elif stage.number > 1:  # the model trained on: TRL loads the KL reference from here, the stage's start
            model.config._name_or_path = stage.previous_saved
        t = stage.training_args
        anneal = f" -> {stage.extra.final_temperature}" if stage.extra.final_temperature is not None else ""
        prompts = t.per_device_train_batch_size * t.gradient_accumulation_steps * NUM_PROCESSES // t.num_generations
        print(f"[stage {stage.number}] {stage.extra.people}-person puzzles, {t.max_steps} steps of {prompts} prompts x "
              f"{t.num_generations} completions, temperature {t.temperature}{anneal}, learning rate "
              f"{t.learning_rate:g} -> {t.output_dir}")
        adapter_dir = train(stage_trainer(model, tokenizer, stage), stage.args, t)

    if sets is None:
        print(f"[report] {write_report(root, TASK.published)}")
        return None
    label = f"after stage {last.number}"
    after = evaluate_stage("after", model, tokenizer, sets, TASK, last.args, last.training_args, adapter_dir,
                           key=eval_set)
    report = {"eval_set": eval_set, "before": accuracies(before), "after": accuracies(after),
              "after_stage": last.number, "published_5ppl": [p / 100 for p in TASK.published]}
    write_json(os.path.join(root, "kk_results.json"), report)
    source = "Logic-RL's test files" if eval_set != "generated" else f"generated with seed {DATA_SEED}"
    published = (f"published: 5ppl {TASK.published[0] / 100:.2f} -> {TASK.published[1] / 100:.2f} (Logic-RL's "
                 "three-stage run; GPT-4o about 0.30)")
    print(accuracy_table(before, after, label, published, f"puzzles per size, {source}"))
    print(f"[report] {write_report(root, TASK.published)}")
    return report


if __name__ == "__main__":
    run(main, DEFAULTS, ExtraArguments)
