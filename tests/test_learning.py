"""GRPO really learns here: the recipes' model loading and TRL's trainer raise a simple reward on a tiny model."""

from datasets import Dataset
from trl import GRPOTrainer

from recipes.common.args import parse_args
from recipes.common.model import load_model
from rewards.text import completion_text


def share_of_b(prompts, completions, **kwargs):
    """The share of the letter b among the completion's characters."""
    texts = [completion_text(c) for c in completions]
    return [t.count("b") / len(t) if t else 0.0 for t in texts]


def test_grpo_raises_a_simple_reward_within_a_few_dozen_steps(tiny_model, tmp_path):
    args, cfg = parse_args({}, [
        "--model_name_or_path", tiny_model, "--lora_r", "8", "--lora_alpha", "16", "--output_dir", str(tmp_path),
        "--learning_rate", "3e-2", "--max_steps", "40", "--per_device_train_batch_size", "8",
        "--num_generations", "4", "--max_completion_length", "16", "--logging_steps", "5", "--save_strategy", "no",
        "--seed", "0", "--lr_scheduler_type", "constant"])
    model, tokenizer = load_model(args)
    prompts = Dataset.from_list([{"prompt": [{"role": "user", "content": "say b"}]}] * 320)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[share_of_b], args=cfg,
                          train_dataset=prompts)
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    print("mean reward every 5 steps:", [round(r, 3) for r in rewards])
    assert rewards[0] < 0.1
    assert min(rewards[-3:]) > rewards[0] + 0.2  # from a few % to a third of the characters or more
