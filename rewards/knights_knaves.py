"""Knights and Knaves reward (system C, recipes/knights_knaves_7b.py): Logic-RL's format and answer rules, and
what part of a reply they read.

`kk_reward` takes TRL's reward arguments (`prompts`, `completions`) and the dataset's `names` and `solution` columns
(one list per completion; `solution[i]` is True when `names[i]` is a knight), and returns one float per completion.

What is scored, as in Logic-RL's scorer: the text after the first "Assistant:" of the decoded prompt and reply, or
else after the prompt's assistant header (so a pre-filled "<think>" counts). Logic-RL's prompts hold no
"Assistant:", so the cut falls at the first one the reply writes, case-sensitive, anywhere (inside <answer> too):
a model that writes a fake next turn ("...</answer> Human: thanks. Assistant: ...") is scored on what follows that
"Assistant:" alone, without the pre-filled "<think>". Its right first answer is then lost, and a fake turn that
redoes the whole answer is scored as if it were the reply. `kk_reward` keeps that cut, because it is the reward
Logic-RL trained with; `kk_whole_reply_reward` scores the whole reply instead, as a user would read it.
"""

import re

from rewards.text import completion_text, last_tag

THINK_ANSWER_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
TURN_MARK = "Assistant:"  # where Logic-RL's scorer starts reading


def _prefilled(prompt) -> str:
    """The start of the assistant's turn already in the prompt: a chat prompt's final assistant message, or the
    `<think>` that a prompt rendered to text ends with."""
    if isinstance(prompt, str):
        return "<think>" if prompt.rstrip().endswith("<think>") else ""
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[-1], dict):
        if prompt[-1].get("role") == "assistant":
            return completion_text(prompt[-1])
    return ""


def scored_turn(prompt, completion, cut_at_assistant: bool = True) -> str:
    """The assistant's turn as the reward reads it: the pre-filled start and the completion, and with
    `cut_at_assistant` (Logic-RL's scorer) only what follows its first "Assistant:", if it has one."""
    turn = _prefilled(prompt) + completion_text(completion)
    if cut_at_assistant and TURN_MARK in turn:
        return turn.split(TURN_MARK, 1)[1]
    return turn


def format_ok(turn: str) -> bool:
    """Each of <think>, </think>, <answer>, </answer> exactly once, in that order."""
    if any(turn.count(tag) != 1 for tag in THINK_ANSWER_TAGS):
        return False
    positions = [turn.find(tag) for tag in THINK_ANSWER_TAGS]
    return positions == sorted(positions)


def parse_roles(answer: str, names: list[str]) -> dict[str, str] | None:
    """Logic-RL's answer parser: {name: "knight" or "knave"} from the first "Name is a knight/knave" of each name;
    None when the "knight" and "knave" substrings (so "knights" counts) do not number one per person, or a name has
    no such sentence."""
    lowered = answer.lower()
    if lowered.count("knight") + lowered.count("knave") != len(names):
        return None
    roles = {}
    for name in names:
        # The name is escaped, and `\s+` is always followed by a letter, so a run of spaces is scanned once: linear.
        found = re.search(rf"\b{re.escape(name)}\b\s+is\s+a\s+\b(knight|knave)\b", answer, re.IGNORECASE)
        if found is None:
            return None
        roles[name] = found.group(1).lower()
    return roles


def kk_score(prompt, completion, names, solution, cut_at_assistant: bool = True) -> float:
    """System C's reward for one completion (see `kk_reward`)."""
    turn = scored_turn(prompt, completion, cut_at_assistant)
    format_score = 1.0 if format_ok(turn) else -1.0
    answer = last_tag(turn, "answer")
    if format_score < 0 or not answer:
        return format_score - 2.0
    roles = parse_roles(answer, [str(n) for n in names])
    if roles is None:
        return format_score - 2.0
    gold = {str(n): "knight" if knight else "knave" for n, knight in zip(names, solution)}
    return format_score + (2.0 if roles == gold else -1.5)


def kk_reward(prompts, completions, names, solution, **kwargs) -> list[float]:
    """System C (Logic-RL): format +1 if <think>, </think>, <answer>, </answer> each appear once and in order (a
    pre-filled <think> counts), else -1; plus, from the last <answer>: -2 without format or answer, or unless "knight"
    and "knave" occur once per person and each name has a "Name is a knight/knave"; +2 all right; else -1.5. As in
    Logic-RL's scorer, a reply that writes "Assistant:" is scored on what follows its first one."""
    return [kk_score(p, c, n, s) for p, c, n, s in zip(prompts, completions, names, solution)]


def kk_whole_reply_reward(prompts, completions, names, solution, **kwargs) -> list[float]:
    """`kk_reward` on the whole reply: an "Assistant:" the model writes is text like any other, so a fake next turn
    that repeats the tags fails the format."""
    return [kk_score(p, c, n, s, cut_at_assistant=False) for p, c, n, s in zip(prompts, completions, names, solution)]
