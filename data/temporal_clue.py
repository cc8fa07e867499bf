"""Temporal Clue puzzles (system D, OpenPipe) as chat prompts for GRPO: generated from a seed with OR-Tools' CP-SAT
solver (`data/temporal_clue_puzzles.py`), or loaded from the public puzzle files.

Each puzzle is `{"num_clues": int, "prompt": str, "solution": {"A": "Mrs. White", ...}}`, the public files' format,
which `load` reads. A row (`make_row`) is the prompt as the one user message, the answers, and each answer key's
question kind (`QUESTION_KINDS`). `python -m data.temporal_clue --count 100 --seed 1 --out puzzles.json` makes and
saves some, and prints how long they took.
"""

import argparse
import json
import os
import statistics
import sys
import time

from data.files import read_json
from data.temporal_clue_puzzles import puzzle
from data.temporal_clue_text import QUESTIONS
from recipes.errors import RecipeError

QUESTION_KINDS = (*QUESTIONS, "bonus")


def generate(count: int, seed: int = 0, start: int = 0) -> list[dict]:
    """Puzzles `start` to `start + count - 1` of the stream for `seed`."""
    return [puzzle(seed, i) for i in range(start, start + count)]


def load(path: str) -> list[dict]:
    """Puzzles in the public files' format: a JSON list of `{"num_clues", "prompt", "solution"}`, from one file, or
    from a folder's val.json and test.json (in that order, as OpenPipe split them)."""
    if os.path.isdir(path):
        files = [os.path.join(path, name) for name in ("val.json", "test.json")
                 if os.path.isfile(os.path.join(path, name))]
        if not files:
            raise RecipeError(f"no val.json or test.json of Temporal Clue puzzles in {path}")
        return [p for file in files for p in load(file)]
    if not os.path.isfile(path):
        raise RecipeError(f"no Temporal Clue puzzles at {path} (a JSON file, or a folder with val.json and test.json)")
    rows = read_json(path)
    if rows == []:
        raise RecipeError(f"{path}: no puzzles in the file")
    for i, row in enumerate(rows if isinstance(rows, list) else [None]):
        if not (isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("solution"), dict)
                and row["solution"]):
            raise RecipeError(f"{path}: puzzle {i} is not {{\"num_clues\", \"prompt\", \"solution\": {{\"A\": ...}}}}")
    return rows


def question_kinds(prompt: str) -> dict[str, str]:
    """{"A": "who", "B": "what", ..., "F": "bonus"}: each answer key's kind, read from the prompt's question lists
    (who, what, where, when, why; anything among the bonus questions is "bonus")."""
    kinds = {text: kind for kind, (text, _) in QUESTIONS.items()}
    found, section = {}, None
    for line in prompt.splitlines():
        if line.startswith("Please answer the following question"):
            section = "main"
        elif line.startswith("And the following bonus question"):
            section = "bonus"
        elif line.startswith("Fill out your final answers"):
            break
        elif section and line[1:3] == ". ":
            found[line[0]] = kinds.get(line[3:], "bonus") if section == "main" else "bonus"
    return found


def make_row(puzzle: dict) -> dict:
    """A dataset row: the prompt as the one user message (OpenPipe used no system prompt), the answers, and each
    answer key's question kind."""
    return {"prompt": [{"role": "user", "content": puzzle["prompt"]}], "solution": puzzle["solution"],
            "kinds": question_kinds(puzzle["prompt"]), "num_clues": puzzle.get("num_clues", 0),
            "question": puzzle["prompt"], "answer": json.dumps(puzzle["solution"])}


def main(argv: list[str] | None = None) -> int:
    """Make puzzles, print how long they took and their sizes, and save them in the public files' format."""
    parser = argparse.ArgumentParser(prog="python -m data.temporal_clue", description=main.__doc__)
    parser.add_argument("--count", type=int, default=100, help="how many puzzles (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the stream's seed (the recipe's: 2025)")
    parser.add_argument("--start", type=int, default=0, help="index of the first puzzle in the stream")
    parser.add_argument("--out", help="a JSON file to write them to, as `load` and --clue_test_dir read them")
    a = parser.parse_args(argv)
    if a.count < 1 or a.start < 0:
        parser.error("--count must be at least 1 and --start at least 0")
    if a.out and not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        parser.error(f"no folder for --out {a.out}")
    began = time.perf_counter()
    puzzles = generate(a.count, a.seed, a.start)
    took = time.perf_counter() - began
    clues = [p["num_clues"] for p in puzzles]
    answers = [len(p["solution"]) for p in puzzles]
    print(f"{a.count} puzzles (seed {a.seed}, from {a.start}) in {took:.1f} s on one core, {took / a.count:.2f} s "
          f"each; clues {min(clues)}-{max(clues)} (median {statistics.median(clues):g}), questions "
          f"{min(answers)}-{max(answers)}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(puzzles, f, indent=1)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
