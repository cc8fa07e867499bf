"""Temporal Clue reward (system D, recipes/temporal_clue_14b.py): the share of questions answered right, read the
way OpenPipe's grader read replies, except that times can be credited and a few of its accidents are not kept.

The puzzle asks for lines "A. SUSPECT", "B. WEAPON", ...; `solution` maps each answer key to its answer
({"A": "Mrs. White", "D": "12:00 AM", ...}). A dataset built with `datasets` stores it as a struct with every key of
the whole set: keys whose answer is None are not part of that puzzle.

OpenPipe's grader took, for each key, the last match of `KEY\\. ([A-Za-z \\.:-]+)` anywhere in the reply and compared
it, stripped, with the answer, ignoring case. Because the search is unanchored and the value stops at the first
character outside that class, it credits a bullet or a number before the key ("- A. Mrs. White", "1. A. ..."),
several answers on one line ("A. Mrs. White, B. Knife") and words after a comma or a bracket ("A. Mrs. White (the
culprit)"). Its quirks: no digits, so "D. 12:00 AM" never matches and a time is never credited; a final full stop
is kept ("A. Mrs. White." is wrong); a key letter inside a word counts ("DNA. Mrs. White" answers A); "**B.** Lead
Pipe" does not match; letters, spaces and dashes run on into the value ("A. Mrs. White B. Knife" answers A with
"Mrs. White B. Knife", "A. Mrs. White - the culprit" is wrong). `openpipe_score` keeps that rule, quirks included,
for comparison.

`clue_reward` (ours) reads the same "KEY. value" anywhere in a line, and the last answer to each key counts, as in
OpenPipe's grader. It differs in that:
- a value may hold digits, so times count;
- a key is a capital letter on its own, not the end of a word or an abbreviation ("DNA.", "U.S.A."), followed by a
  full stop and a space or the end of the line; markdown asterisks are read as spaces ("**B.** Lead Pipe" counts);
- a value ends at the end of its line, at the next key, or where other text follows it: a comma, a semicolon, a
  bracket, a tag ("</answer>"), a bar, a backslash, a bullet, a colon and a space, or a dash with spaces around it
  ("A. Mrs. White - the culprit" counts);
- it is compared whole, ignoring case, runs of spaces, surrounding quotes and a final "." or "!": "Mrs. Whitehead",
  "Mrs. White or Miss Peach", "Mrs. White/Miss Peach", "Mrs. White?" and "Mrs. White is the killer" are not
  "Mrs. White" (OpenPipe's grader credits the slash and the question mark);
- a key with nothing after it ("A." alone) is no answer, so it does not replace an earlier one.
Like OpenPipe's grader, it credits an answer inside a sentence ("the weapon is B. Lead Pipe") and one with a hedge
after a comma ("A. Mrs. White, or Miss Peach"), and keys are capitals only. Unlike it, a value that holds an
initial which is also a key ("A. Mr. J. Smith" when J is asked) would be cut there; no Temporal Clue answer has one.
"""

import json
import re

from rewards.text import completion_text

# One character before the key (a fixed-width look-behind) and one after the full stop: each position is tried once,
# so the search is linear however the reply repeats keys.
_KEY = re.compile(r"(?<![A-Za-z0-9.])([A-Z])\.(?=\s|$)")
# What ends a value when other text follows it on the line. Single characters or fixed strings: linear.
_VALUE_END = re.compile(r"[,;(\[{<|\\\u2013\u2014\u2022]|:\s| - ")
_AROUND = " .!\"'`\u2018\u2019\u201c\u201d"  # what comparing drops around a value: a final "." or "!", quotes


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
    return " ".join(value.replace("*", " ").split()).strip(_AROUND).casefold()


def answers(text: str, keys) -> dict[str, str]:
    """For each key, its last answer "KEY. value" in the text (see the module's docstring for where a key starts
    and a value ends): {"A": "Mrs. White", ...}. Keys without an answer are left out."""
    keys, found = set(keys), {}
    for line in text.splitlines():
        line = line.replace("*", " ")
        starts = [m for m in _KEY.finditer(line) if m.group(1) in keys]
        for here, after in zip(starts, starts[1:] + [None]):
            value = line[here.end():after.start() if after else len(line)]
            end = _VALUE_END.search(value)
            value = (value[:end.start()] if end else value).strip()
            if value:
                found[here.group(1)] = value
    return found


def graded(text: str, solution) -> dict[str, bool]:
    """{key: answered right}: the last answer to each key, compared whole, ignoring case, runs of spaces, asterisks,
    surrounding quotes and a final full stop."""
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
    """System D (OpenPipe's Temporal Clue): the fraction of answer keys right, each from the last "KEY. value" in the
    reply (after a bullet or a number, several on a line, text after a comma or bracket), compared whole ignoring case;
    times such as "12:00 AM" count."""
    return [clue_score(completion_text(c), s) for c, s in zip(completions, solution)]
