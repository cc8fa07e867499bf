"""Small arithmetic word problems, generated: a task a tiny model can learn on a CPU in minutes.

    generate(3, seed=0)  ->  [{"question": "Mia has 23 shells and finds 48 more. How many shells ...?", "answer": "71"}, ...]

The same `seed` always gives the same problems; different seeds give (almost always) different ones. Difficulty
knobs: `operations` (any of "add", "sub", "mul", "two_step"), `max_number` (the largest number in a sum or
difference) and `max_factor` (the largest number in a product). Every answer is a non-negative integer.
"""

import random

from datasets import Dataset

NAMES = ["Tom", "Anna", "Leo", "Mia", "Sam", "Lily", "Ben", "Zoe", "Max", "Emma", "Noah", "Ava", "Omar", "Sara"]
ITEMS = ["apples", "books", "marbles", "stickers", "pencils", "coins", "cards", "shells", "cookies", "stamps"]
OPERATIONS = ("add", "sub", "mul", "two_step")


def _problem(rng: random.Random, operation: str, max_number: int, max_factor: int) -> tuple[str, int]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    if operation == "add":
        a, b = rng.randint(2, max_number), rng.randint(2, max_number)
        verb = rng.choice(["buys", "finds", "gets"])
        return f"{name} has {a} {item} and {verb} {b} more. How many {item} does {name} have now?", a + b
    if operation == "sub":
        a = rng.randint(3, max_number)
        b = rng.randint(1, a - 1)
        verb = rng.choice(["gives away", "loses", "sells"])
        return f"{name} has {a} {item} and {verb} {b} of them. How many {item} does {name} have left?", a - b
    if operation == "mul":
        a, b = rng.randint(2, max_factor), rng.randint(2, max_factor)
        return f"{name} has {a} boxes with {b} {item} in each box. How many {item} does {name} have?", a * b
    if operation == "two_step":
        a, b = rng.randint(2, max_number), rng.randint(2, max_number)
        c = rng.randint(1, a + b - 1)
        return (f"{name} has {a} {item}, buys {b} more and then gives away {c}. "
                f"How many {item} does {name} have now?", a + b - c)
    raise ValueError(f"unknown operation {operation!r}; choose from {', '.join(OPERATIONS)}")


def generate(n: int, seed: int, operations=("add", "sub", "mul"), max_number: int = 99,
             max_factor: int = 12) -> list[dict]:
    """`n` distinct problems drawn with `seed`: each a `question` and its `answer` (an integer, as a string)."""
    rng = random.Random(seed)
    problems, seen = [], set()
    for _ in range(100 * n + 1000):
        if len(problems) == n:
            break
        question, answer = _problem(rng, rng.choice(operations), max_number, max_factor)
        if question not in seen:
            seen.add(question)
            problems.append({"question": question, "answer": str(answer)})
    if len(problems) < n:
        raise ValueError(f"found only {len(problems)} distinct problems at this difficulty; raise max_number/max_factor")
    return problems


def load(n: int, seed: int, system_prompt: str, exclude: Dataset | None = None, **difficulty) -> Dataset:
    """`n` problems as chat prompts with their gold `answer`, none of them a question of `exclude`."""
    held_out = set(exclude["question"]) if exclude is not None else set()
    rows = [r for r in generate(n + len(held_out), seed, **difficulty) if r["question"] not in held_out][:n]
    return Dataset.from_list([{**r, "prompt": [{"role": "system", "content": system_prompt},
                                               {"role": "user", "content": r["question"]}]} for r in rows])
