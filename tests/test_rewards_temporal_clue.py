"""The Temporal Clue reward (system D): tables of the layouts models write, each scored by our rule and by OpenPipe's
grader (quirks included), the answers that must not be credited, and replies from a model in collapse."""

import json

import pytest

from linear_time import scored_in_a_fresh_python
from rewards.temporal_clue import answer_key, answers, clue_reward, clue_score, graded, openpipe_score

GOLD = {"A": "Mrs. White", "B": "Lead Pipe", "C": "Fountain", "D": "12:00 AM", "E": "Jealousy"}
RIGHT = "A. Mrs. White\nB. Lead Pipe\nC. Fountain\nD. 12:00 AM\nE. Jealousy"
ALL, NO_TIME = "ABCDE", "ABCE"  # OpenPipe's pattern has no digits: it never credits the time


def lines(template: str) -> str:
    """RIGHT with each line written as `template` ("- {}"), "{n}" being the line's number."""
    return "\n".join(template.format(line, n=n) for n, line in enumerate(RIGHT.splitlines(), start=1))


# (reply, the keys ours credits, the keys OpenPipe's grader credits)
LAYOUTS = [
    (RIGHT, ALL, NO_TIME),
    ("Reasoning...\n\n" + RIGHT + "\n", ALL, NO_TIME),
    (RIGHT.replace("\n", "\n\n"), ALL, NO_TIME),
    ("A. mrs. white\nB. LEAD PIPE\nC. fountain\nD. 12:00 am\nE. jealousy", ALL, NO_TIME),  # answers' case is ignored
    (lines("- {}"), ALL, NO_TIME),
    (lines("* {}"), ALL, NO_TIME),
    (lines("\u2022 {}"), ALL, NO_TIME),
    (lines("{n}. {}"), ALL, NO_TIME),
    (lines("{n}) {}"), ALL, NO_TIME),
    (lines("### {}"), ALL, NO_TIME),
    (lines("> {}"), ALL, NO_TIME),
    (lines("  {}  "), ALL, NO_TIME),
    (lines("**{}**"), ALL, NO_TIME),
    (RIGHT.replace(". ", ".** ", 1).replace("A.", "**A."), ALL, "BCE"),  # "**A.** Mrs. White": no "A. " to find
    ("A. **Mrs. White**\nB. *Lead Pipe*\nC. Fountain\nD. 12:00 AM\nE. Jealousy", ALL, "CE"),
    ("A. Mrs. White, B. Lead Pipe, C. Fountain, D. 12:00 AM, E. Jealousy", ALL, NO_TIME),
    ("A. Mrs. White; B. Lead Pipe; C. Fountain; D. 12:00 AM; E. Jealousy", ALL, NO_TIME),
    ("A. Mrs. White,B. Lead Pipe", "AB", "AB"),
    ("A. Mrs. White B. Lead Pipe C. Fountain D. 12:00 AM E. Jealousy", ALL, "E"),  # theirs runs on to the next key
    ("| A. Mrs. White | B. Lead Pipe |\n| C. Fountain | D. 12:00 AM |", "ABCD", "ABC"),
    ("<answer>\nA. Mrs. White\nB. Lead Pipe</answer>", "AB", "AB"),
    ("<answer>A. Mrs. White</answer>", "A", "A"),
    # text after the value
    ("A. Mrs. White (the culprit)", "A", "A"),
    ("A. Mrs. White [she had the key]", "A", "A"),
    ("A. Mrs. White, who had the key", "A", "A"),
    ("A. Mrs. White - who had the key", "A", ""),  # "-" and letters are in OpenPipe's class: it runs on
    ("A. Mrs. White \u2014 who had the key", "A", "A"),
    ("A. Mrs. White\u2013who had the key", "A", "A"),
    ("A. Mrs. White: she had the key", "A", ""),
    ("A. Mrs. White \\\\ B. Lead Pipe \\\\", "AB", "AB"),  # LaTeX line breaks
    ("A. Mrs. White \u2022 B. Lead Pipe", "AB", "AB"),
    ("A. Mrs. White.", "A", ""),  # OpenPipe's grader keeps the full stop
    ("A. Mrs. White!", "A", "A"),
    ('A. "Mrs. White"', "A", ""),
    ("A. \u201cMrs. White\u201d.", "A", ""),
    ("A.   Mrs.  White  ", "A", ""),  # theirs keeps inner runs of spaces
    # times
    ("D. 12:00 AM", "D", ""),
    ("D. 12:00 AM (midnight)", "D", ""),
    ("D. **12:00 AM**.", "D", ""),
    ("D. 12:00  am", "D", ""),
    ("D. 12:00 PM", "", ""),
    ("D. 12:00", "", ""),
    ("D. 00:00", "", ""),
    ("D. midnight", "", ""),
    # the last answer to a key counts
    ("A. Miss Peach\n" + RIGHT, ALL, NO_TIME),
    (RIGHT + "\nA. Miss Peach", "BCDE", "BCE"),
    ("A. Miss Peach, A. Mrs. White", "A", "A"),
    ("A. Mrs. White, A. Miss Peach", "", ""),
    (RIGHT + "\nA. SUSPECT", "BCDE", "BCE"),  # the prompt's template, echoed after the answers
    ("A. Mrs. White\nA.\nA. (see above)", "A", "A"),  # a key with nothing after it is no answer
    ("A. Mrs. White\nA.  ", "A", ""),  # to theirs, the spaces are an answer
    ("A. Mrs. White\nB. Rope\nE. Jealousy", "AE", "AE"),  # a missing key counts as wrong
    # answers inside sentences: both read them
    ("So the weapon is B. Lead Pipe\nA. Mrs. White", "AB", "AB"),
    ("B. Lead Pipe, in the Fountain\nA. Mrs. White", "AB", "AB"),
    ("Plan B. Then A. Mrs. White", "A", "A"),
    ("", "", ""),
]

# (reply, the keys ours credits, the keys OpenPipe's grader credits): answers that are not the answer
FALSE_CREDIT = [
    ("A. Mrs. Whitehead", "", ""),
    ("A. Mrs. White or Miss Peach", "", ""),
    ("A. Mrs. White/Miss Peach", "", "A"),  # OpenPipe's value stops at the slash
    ("A. Mrs. White?", "", "A"),
    ("A. Mrs. White is the murderer", "", ""),
    ("A. Mrs White", "", ""),
    ("A. The murderer is Mrs. White", "", ""),
    ("A. Who murdered Mr. Boddy? Mrs. White", "", ""),
    ("DNA. Mrs. White", "", "A"),  # a key letter at the end of a word
    ("U.S.A. Mrs. White", "", "A"),  # or of an abbreviation
    ("1A. Mrs. White", "", "A"),
    ("A.Mrs. White", "", ""),
    ("a. Mrs. White", "", ""),  # keys are capitals
    (RIGHT.lower(), "", ""),
    ("A) Mrs. White\nB: Lead Pipe\n(C) Fountain", "", ""),  # other formats are not read
    ("A. Mrs. White, or Miss Peach", "A", "A"),  # a hedge after a comma: both credit it
    ("F. Mrs. White\nG. Lead Pipe", "", ""),  # keys the puzzle does not ask
]


@pytest.mark.parametrize("reply, ours, theirs", LAYOUTS + FALSE_CREDIT)
def test_layouts(reply, ours, theirs):
    assert {k for k, right in graded(reply, GOLD).items() if right} == set(ours)
    assert clue_score(reply, GOLD) == pytest.approx(len(ours) / 5)
    assert openpipe_score(reply, GOLD) == pytest.approx(len(theirs) / 5)


def test_answers_are_read_up_to_where_other_text_starts():
    assert answers("x\nA. one\nA. two\nZ. three\nB.\n", "AB") == {"A": "two"}
    assert answers("- A. Mrs. White (the culprit), B. Knife; C. Hall</answer>", "ABC") == {
        "A": "Mrs. White", "B": "Knife", "C": "Hall"}
    assert answers("A. Mrs. White B. Knife", "A") == {"A": "Mrs. White B. Knife"}  # only the puzzle's keys split
    assert answers("A. Mr. J. Smith", "AJ") == {"A": "Mr.", "J": "Smith"}  # a key inside a value splits it


def test_graded_names_each_key():
    assert graded("A. Mrs. White\nD. 12:00 AM\nE. Hatred", GOLD) == {"A": True, "B": False, "C": False, "D": True,
                                                                      "E": False}


def test_the_solution_may_be_a_dict_padded_by_datasets_or_json():
    padded = {**GOLD, "F": None, "G": None, "H": None}  # datasets stores every key of the set in each row
    assert answer_key(padded) == GOLD and clue_score(RIGHT, padded) == 1.0
    assert clue_score(RIGHT, json.dumps(GOLD)) == 1.0
    for broken in (None, "not json", "[1, 2]", {}, 3):
        assert answer_key(broken) == {} and clue_score(RIGHT, broken) == 0.0 and openpipe_score(RIGHT, broken) == 0.0


def test_reward_takes_trls_arguments():
    completions = [RIGHT, [{"role": "assistant", "content": "- A. Mrs. White, B. Lead Pipe"}], None, 42,
                   {"content": RIGHT}]
    rewards = clue_reward(prompts=["p"] * 5, completions=completions, solution=[GOLD] * 5, completion_ids=None)
    assert rewards == [1.0, 0.4, 0.0, 0.0, 1.0]
    assert all(type(r) is float for r in rewards)


# (what a model in collapse repeats, our score, OpenPipe's) on 128 KB: each ends in a whole unit
COLLAPSE = [
    ("A. ", 0.0, 0.0), ("A.", 0.0, 0.0), ("A. B. C. D. E. ", 0.0, 0.0), ("\n", 0.0, 0.0), ("*", 0.0, 0.0),
    (" ", 0.0, 0.0), ("x", 0.0, 0.0), ("(", 0.0, 0.0), (", ", 0.0, 0.0), (" - ", 0.0, 0.0), ("DNA. ", 0.0, 0.0),
    ("1. A. ", 0.0, 0.0), ("**A.**", 0.0, 0.0), ("A. Mrs. White\n", 0.2, 0.2), ("- A. Mrs. White, ", 0.2, 0.2),
    ("A. Mrs. White (", 0.2, 0.2), ("<answer>A. Mrs. White</answer>", 0.2, 0.2), ("D. 12:00 AM ", 0.2, 0.0),
    ("D. 12:00 AM, ", 0.2, 0.0), ("Mrs. White ", 0.0, 0.0),
]


def test_128_kb_of_collapse_is_scored_in_linear_time():
    code = ("from rewards.temporal_clue import clue_reward, openpipe_score\n"
            "replies = [unit * (128 * 1024 // len(unit) + 1) for unit in data['units']]\n"
            "print(json.dumps([[clue_reward(['p'], [r], [data['gold']])[0], openpipe_score(r, data['gold'])]"
            " for r in replies]))")
    data = {"gold": GOLD, "units": [unit for unit, _, _ in COLLAPSE]}
    assert scored_in_a_fresh_python(code, data) == [[ours, theirs] for _, ours, theirs in COLLAPSE]
