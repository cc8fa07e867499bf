"""The demo's generated arithmetic problems: right answers, reproducible, held-out problems kept out of training."""

import re

import pytest

from data import arithmetic


def solve(question: str) -> int:
    """Independent of the generator: read the numbers and the verbs back from the text."""
    a, b, *rest = map(int, re.findall(r"\d+", question))
    if "boxes" in question:
        return a * b
    if rest:  # "has a, buys b more and then gives away c"
        return a + b - rest[0]
    return a - b if re.search(r"gives away|loses|sells", question) else a + b


def test_every_answer_is_right():
    for row in arithmetic.generate(500, seed=3, operations=arithmetic.OPERATIONS):
        assert int(row["answer"]) == solve(row["question"]) >= 0, row


def test_same_seed_same_problems_other_seed_other_problems():
    assert arithmetic.generate(50, seed=1) == arithmetic.generate(50, seed=1)
    assert arithmetic.generate(50, seed=1) != arithmetic.generate(50, seed=2)
    assert len({r["question"] for r in arithmetic.generate(1000, seed=1)}) == 1000


def test_difficulty_knobs_bound_the_numbers():
    for row in arithmetic.generate(300, seed=0, operations=("mul",), max_factor=5):
        a, b = map(int, re.findall(r"\d+", row["question"]))
        assert 2 <= a <= 5 and 2 <= b <= 5 and "boxes" in row["question"]
    with pytest.raises(ValueError, match="unknown operation"):
        arithmetic.generate(1, seed=0, operations=("div",))


def test_training_problems_never_include_held_out_ones():
    held_out = arithmetic.load(200, 7, "S", max_number=10, max_factor=4)
    train = arithmetic.load(2000, 8, "S", exclude=held_out, max_number=10, max_factor=4)
    assert len(train) == 2000 and not set(train["question"]) & set(held_out["question"])
    assert train[0]["prompt"] == [{"role": "system", "content": "S"}, {"role": "user", "content": train[0]["question"]}]


def test_asking_for_more_problems_than_exist_is_an_error_not_a_hang():
    with pytest.raises(ValueError, match="distinct problems"):
        arithmetic.generate(500, seed=0, operations=("mul",), max_factor=2)  # 14 names x 10 items: 140 questions
