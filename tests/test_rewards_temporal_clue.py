"""The Temporal Clue reward (system D): tables of cases for our rule and for OpenPipe's grader, quirks included, and
replies from a model in collapse."""

import json
import time

import pytest

from rewards.temporal_clue import answer_key, answers, clue_reward, clue_score, graded, openpipe_score

GOLD = {"A": "Mrs. White", "B": "Lead Pipe", "C": "Fountain", "D": "12:00 AM", "E": "Jealousy"}
RIGHT = "A. Mrs. White\nB. Lead Pipe\nC. Fountain\nD. 12:00 AM\nE. Jealousy"


@pytest.mark.parametrize("reply, ours, openpipe", [
    (RIGHT, 1.0, 0.8),  # OpenPipe's pattern has no digits: the time is never credited
    ("Reasoning...\n\n" + RIGHT + "\n", 1.0, 0.8),
    ("A. mrs. white\nB. LEAD PIPE\nC. fountain\nD. 12:00 am\nE. jealousy", 1.0, 0.8),  # answers' case is ignored
    (RIGHT.lower(), 0.0, 0.0),  # keys are capitals
    (RIGHT.replace("\n", "\n\n"), 1.0, 0.8),
    ("**A. Mrs. White**\n**B.** Lead Pipe\nC. Fountain\nD. 12:00 AM\nE. Jealousy", 1.0, 0.6),  # "**B.**": no "B. "
    ("A. Mrs. White.\nB. Lead Pipe.\nC. Fountain\nD. 12:00 AM.\nE. Jealousy", 1.0, 0.4),  # a final full stop
    ("  A.   Mrs.  White  \nB. Lead Pipe\nC. Fountain\nD. 12:00  AM\nE. Jealousy", 1.0, 0.6),  # inner spaces
    ("A. Miss Peach\n" + RIGHT, 1.0, 0.8),  # the last line of a key counts
    (RIGHT + "\nA. Miss Peach", 0.8, 0.6),
    ("A. Mrs. White\nB. Rope\nE. Jealousy", 0.4, 0.4),  # missing keys count as wrong
    ("So the weapon is B. Lead Pipe\nA. Mrs. White", 0.2, 0.4),  # OpenPipe matches inside a line
    ("B. Lead Pipe, in the Fountain\nA. Mrs. White", 0.2, 0.4),  # and stops at a comma; ours takes the line
    ("A) Mrs. White\nB: Lead Pipe", 0.0, 0.0),  # other formats are not read
    ("A. Mrs. White E. Jealousy", 0.0, 0.2),  # one line: A is "Mrs. White E. Jealousy" to both
    ("D. 12:00 PM", 0.0, 0.0),
    ("D. midnight", 0.0, 0.0),
    ("", 0.0, 0.0),
])
def test_score_table(reply, ours, openpipe):
    assert clue_score(reply, GOLD) == pytest.approx(ours)
    assert openpipe_score(reply, GOLD) == pytest.approx(openpipe)


def test_graded_names_each_key():
    assert graded("A. Mrs. White\nD. 12:00 AM\nE. Hatred", GOLD) == {"A": True, "B": False, "C": False, "D": True,
                                                                      "E": False}
    assert answers("x\nA. one\nA. two\nZ. three\nB.\n", "AB") == {"A": "two"}


def test_the_solution_may_be_a_dict_padded_by_datasets_or_json():
    padded = {**GOLD, "F": None, "G": None, "H": None}  # datasets stores every key of the set in each row
    assert answer_key(padded) == GOLD and clue_score(RIGHT, padded) == 1.0
    assert clue_score(RIGHT, json.dumps(GOLD)) == 1.0
    for broken in (None, "not json", "[1, 2]", {}, 3):
        assert answer_key(broken) == {} and clue_score(RIGHT, broken) == 0.0 and openpipe_score(RIGHT, broken) == 0.0


def test_reward_takes_trls_arguments():
    completions = [RIGHT, [{"role": "assistant", "content": "A. Mrs. White"}], None, 42, {"content": RIGHT}]
    rewards = clue_reward(prompts=["p"] * 5, completions=completions, solution=[GOLD] * 5, completion_ids=None)
    assert rewards == [1.0, 0.2, 0.0, 0.0, 1.0]
    assert all(isinstance(r, float) for r in rewards)


@pytest.mark.parametrize("junk", ["A. " * 6000, "A." * 8000, "\n" * 16000, "*" * 16000, "A. Mrs. White\n" * 1200,
                                  "B. " + "Lead Pipe " * 1600, "x" * 16000])
def test_kilobytes_of_repeated_junk_are_scored_fast(junk):
    assert len(junk) >= 16000
    start = time.perf_counter()
    for _ in range(10):
        clue_reward(["p"], [junk], [GOLD])
        openpipe_score(junk, GOLD)
    assert time.perf_counter() - start < 1.0  # ten of each, 16 KB each
