"""Format rewards: credit for the tags a system prompt asks for."""

from rewards.text import completion_text

REASONING_ANSWER_TAGS = ("<reasoning>", "</reasoning>", "<answer>", "</answer>")


def tag_presence_reward(prompts, completions, **kwargs) -> list[float]:
    """System B: 0.2 for each of <reasoning>, </reasoning>, <answer>, </answer> present anywhere (max 0.8)."""
    return [0.2 * sum(tag in completion_text(c) for tag in REASONING_ANSWER_TAGS) for c in completions]
