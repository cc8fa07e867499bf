"""Temporal Clue reward (system D, recipes/temporal_clue_14b.py): the share of questions answered right, as OpenPipe
scored it, except that times can be credited.

The puzzle asks for lines "A. SUSPECT", "B. WEAPON", ...; `solution` maps each answer key to its answer
({"A": "Mrs. White", "D": "12:00 AM", ...}). A dataset built with `datasets` stores it as a struct with every key of
the whole set: keys whose answer is None are not part of that puzzle.

OpenPipe's grader took, for each key, the last match of `KEY\\. ([A-Za-z \\.:-]+)` anywhere in the reply and compared
it, stripped, with the answer, ignoring case. Its character class has no digits, so "D. 12:00 AM" never matches and a
time is never credited; it also keeps a final full stop ("A. Mrs. White." is wrong) and matches inside sentences
("plan B. Then ..."). `openpipe_score` keeps that rule, quirks included, for comparison; `clue_reward` is ours.
"""

import json
import re

from rewards.text import completion_text


def answer_key(solution) -> dict[str, str]:
    """{key: answer} from a dict (keys with None left out) or its JSON text; {} for anything else."""
    if isinstance(solution, str):
        try:
            solution = json.loads(solution)
        except ValueError:
            return {}
    if not isinstance(solution, dict):
        return {}
    return {str(k): str(v) for k, v in solution.items() if v is not None}


def _normal(value: str) -> str:
    return " ".join(value.replace("*", " ").split()).rstrip(".").strip().casefold()


def answers(text: str, keys) -> dict[str, str]:
    """For each key, the value on the last line of the form "KEY. value" (markdown asterisks and surrounding spaces
    ignored): {"A": "Mrs. White", ...}. Keys without such a line are left out."""
    keys, found = set(keys), {}
    for line in text.splitlines():
        line = line.replace("*", "").strip()
        if len(line) > 2 and line[1] == "." and line[0] in keys:
            found[line[0]] = line[2:].strip()
    return found


def graded(text: str, solution) -> dict[str, bool]:
    """{key: answered right}: the last "KEY. value" line, compared ignoring case, spaces, asterisks and a final full
    stop."""
    key = answer_key(solution)
    given = answers(text, key)
    return {k: k in given and _normal(given[k]) == _normal(v) for k, v in key.items()}


def clue_score(text: str, solution) -> float:
    """The share of keys answered right (0.0 when the solution has no keys)."""
    right = graded(text, solution)
    return sum(right.values()) / len(right) if right else 0.0


def openpipe_score(text: str, solution) -> float:
    """OpenPipe's grader, quirks kept: the last `KEY\\. ([A-Za-z \\.:-]+)` match anywhere, stripped, equal to the answer
    ignoring case; no digits, so times are never credited. (One character class after a literal: linear time.)"""
    key = answer_key(solution)
    if not key:
        return 0.0
    right = 0
    for k, value in key.items():
        matches = re.findall(rf"{re.escape(k)}\. ([A-Za-z \.:-]+)", text)
        right += bool(matches) and matches[-1].strip().lower() == value.lower()
    return right / len(key)


def clue_reward(prompts, completions, solution, **kwargs) -> list[float]:
    """System D (OpenPipe's Temporal Clue): the fraction of answer keys right, each read from the reply's last line
    "KEY. value" and compared ignoring case (times such as "12:00 AM" count)."""
    return [clue_score(completion_text(c), s) for c, s in zip(completions, solution)]
