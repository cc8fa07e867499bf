"""Format rewards: credit for the tags a system prompt asks for."""

from rewards.text import completion_text

REASONING_ANSWER_TAGS = ("<reasoning>", "</reasoning>", "<answer>", "</answer>")


def tag_presence_reward(prompts, completions, **kwargs) -> list[float]:
    """System B: 0.2 for each of <reasoning>, </reasoning>, <answer>, </answer> present anywhere (max 0.8)."""
    return [0.2 * sum(tag in completion_text(c) for tag in REASONING_ANSWER_TAGS) for c in completions]


def single_answer_reward(prompts, completions, **kwargs) -> list[float]:
    """0.5 for exactly one <answer>…</answer> holding an integer, 0.5 more if nothing but whitespace follows it."""
    return [_single_answer_score(completion_text(c)) for c in completions]


def _single_answer_score(text: str) -> float:
    if text.count("<answer>") != 1 or text.count("</answer>") != 1:
        return 0.0
    start, end = text.find("<answer>") + len("<answer>"), text.find("</answer>")
    digits = text[start:end].strip().removeprefix("-") if end >= start else ""
    if not (digits.isascii() and digits.isdigit()):
        return 0.0
    return 1.0 if not text[end + len("</answer>"):].strip() else 0.5
