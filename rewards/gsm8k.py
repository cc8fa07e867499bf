"""GSM8K rewards: the blog post's composite `custom_reward` (system A, recipes/gsm8k_0_5b.py) and the
"GRPO from scratch" notebook's `correctness_reward` (system B, recipes/gsm8k_1_5b.py).

Each takes TRL's reward arguments (`prompts`, `completions`, and the dataset's `answer` column, one gold answer per
completion) and returns one float per completion.
"""

from rewards.text import completion_text, first_tag, has_tag_pair, last_tag, numbers_in, word_count


def extract_hash_answer(text) -> str | None:
    """GSM8K's gold answer: the text after `####`, stripped, thousands separators removed; None without `####`."""
    if not isinstance(text, str) or "####" not in text:
        return None
    return text.split("####", 1)[1].strip().replace(",", "")


# --- System A: the "home RTX 3090" blog post -----------------------------------------------------------------

def _length_bonus(words: int, low: int, cap: int, scale: float, at_cap: float, include_low: bool) -> float:
    if words >= cap:
        return at_cap
    if words > low or (include_low and words == low):
        return scale * (words - low) / (cap - low)
    return 0.0


def _has_retry_word(text: str) -> bool:
    """`wait`, `but` or `rethink` anywhere (even inside a word: "butter"), followed by at least 20 more characters."""
    for word in ("wait", "but", "rethink"):
        at = text.find(word)  # the first hit leaves the most characters after it
        if at >= 0 and len(text) - (at + len(word)) >= 20:
            return True
    return False


def custom_score(text: str, gold) -> float:
    """System A's composite reward for one completion (see `custom_reward`)."""
    answer = first_tag(text, "answer") or ""
    reasoning = first_tag(text, "reasoning") or ""
    validate = first_tag(text, "validate") or ""

    reward = 0.0
    if gold is not None and answer == str(gold):
        reward += 5.0
    if answer.isdigit():
        reward += 0.5

    validate_bonus = reasoning_bonus = 0.0
    if has_tag_pair(text, "validate"):
        reward *= 1.25
        validate_bonus = _length_bonus(word_count(validate), 5, 256, 3.0, at_cap=3.0, include_low=True)
    if has_tag_pair(text, "reasoning"):
        reward *= 1.25
        # sic: 10 * (n - 5) / 1019 reaches ~10 just below the cap, then drops to 5.0 at 1024 words
        reasoning_bonus = _length_bonus(word_count(reasoning), 5, 1024, 10.0, at_cap=5.0, include_low=False)

    total = reward + reasoning_bonus + validate_bonus
    if has_tag_pair(text, "validate") and _has_retry_word(validate.lower()):
        total *= 10
    return total


def custom_reward(prompts, completions, answer, **kwargs) -> list[float]:
    """System A: +5 exact answer, +0.5 all-digit answer; x1.25 and a length bonus each for <validate> and
    <reasoning>; x10 if the validate text says wait/but/rethink with 20+ characters after it.

    Faithful to the post, with one bug fixed: each completion is compared with its own gold answer (the original
    compared every completion with the first gold answer of the batch).
    """
    return [custom_score(completion_text(c), gold) for c, gold in zip(completions, answer)]


# --- System B: "GRPO from scratch" ---------------------------------------------------------------------------

def answer_from_last_tag(text: str) -> str | None:
    """System B's extraction: the last `<answer>` up to the next `</answer>`; no closing tag or `...` is no answer."""
    found = last_tag(text, "answer")
    return None if found in (None, "...") else found


def _single_number(text: str) -> float | None:
    numbers = numbers_in(text)
    return float(numbers[0].replace(",", "")) if len(numbers) == 1 else None


def correctness_score(text: str, gold) -> float:
    """System B's correctness for one completion (see `correctness_reward`)."""
    found = answer_from_last_tag(text)
    if found is None or gold is None:
        return 0.0
    gold = str(gold)
    if found == gold:
        return 2.0
    found_number, gold_number = _single_number(found), _single_number(gold)
    if found_number is not None and found_number == gold_number:
        return 1.5
    return 0.0


def correctness_reward(prompts, completions, answer, **kwargs) -> list[float]:
    """System B: 2.0 if the last <answer> equals the gold answer exactly, else 1.5 if both hold exactly one number
    and the numbers are equal (`72.0`, `$72`, `1,080` = `1080`), else 0."""
    return [correctness_score(completion_text(c), gold) for c, gold in zip(completions, answer)]
