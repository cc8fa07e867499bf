"""Knights and Knaves puzzles (system C, Logic-RL) as chat prompts for GRPO: generated offline from a seed, or loaded
from Logic-RL's parquet files.

Knights always tell the truth, knaves always lie; each of N people (3 to 8) makes one statement, and the puzzle asks
who is what. The generator follows the K&K dataset's (arXiv:2410.23123) shape and wording: each statement is
"X is a knight/knave", "X is not a knight/knave", or two of those joined by "and", "or", "if ... then" or
"if and only if", in one of 18 ways of reporting speech. Every puzzle has exactly one solution, checked by trying
all 2^N assignments.

Each row has `quiz`, `names`, `solution` (True = knight, in `names` order), `solution_text` ("(1) Ella is a knight"
lines) and `prompt`: Logic-RL's system prompt, the quiz, and an assistant message pre-filled with "<think>".
TRL 1.14.2's GRPOTrainer renders chat prompts with `add_generation_prompt=True`, which closes that assistant message
and opens a new one; render the prompts to text first with `trl.data_utils.maybe_apply_chat_template`, which
continues the final assistant message instead.
"""

import itertools
import os
import random
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset

from recipes.errors import RecipeError

# Logic-RL's system prompt, verbatim (its missing space in "and<answer>" and double space included). With the
# trailing newlines on the system and user messages, Qwen's chat template reproduces Logic-RL's prompts exactly.
SYSTEM_PROMPT = (
    "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and then provides"
    " the user with the answer. The reasoning process and answer are enclosed within <think> </think> and<answer>"
    " </answer> tags, respectively, i.e., <think> reasoning process here </think><answer> answer here </answer>.  Now"
    " the user asks you to solve a logical reasoning problem. After thinking, when you finally reach a conclusion,"
    " clearly state the identity of each character within <answer> </answer> tags. i.e., <answer> (1) Zoey is a"
    " knight\n(2) ... </answer>.\n"
)

MIN_PEOPLE, MAX_PEOPLE = 3, 8

NAMES = [
    "Abigail", "Adam", "Aiden", "Alice", "Amelia", "Ava", "Benjamin", "Caleb", "Charlotte", "Chloe", "Daniel",
    "David", "Elena", "Elijah", "Ella", "Emily", "Emma", "Ethan", "Evelyn", "Gabriel", "Grace", "Hannah", "Harper",
    "Henry", "Isaac", "Isabella", "Jack", "Jacob", "James", "Julia", "Leo", "Liam", "Lily", "Lucas", "Lucy", "Mason",
    "Mia", "Nathan", "Noah", "Nora", "Oliver", "Olivia", "Owen", "Ruby", "Samuel", "Sofia", "Sophia", "Thomas",
    "Victoria", "William", "Zoe",
]

# The K&K dataset's ways of reporting a statement. Quoted statements start with a capital ("If ..."); reported ones
# ("Ava said that if ...") do not.
QUOTED = [
    '{name} said, "{content}."', '{name} stated, "{content}".', 'According to {name}, "{content}".',
    'In {name}\'s words: "{content}".', '{name} remarked, "{content}".', '"{content}," {name} declared.',
    '{name} was heard saying, "{content}".', '"{content}" - {name}.', 'As {name} put it, "{content}".',
    '{name} asserted: "{content}".', '"{content}," {name} mentioned.', '{name} commented, "{content}".',
    'In a statement by {name}: "{content}".', '{name} noted, "{content}".', '"{content}," {name} claimed.',
]
REPORTED = ["{name} said that {content}.", "{name} told you that {content}.", "{name} expressed that {content}."]

# A statement is a tuple: ("knight", i) / ("knave", i) says person i is one; ("not", claim); (op, claim, claim) with
# op one of "and", "or", "->" (if ... then), "<=>" (if and only if). Claims inside `not` and the operators are the
# simple ("knight", i) / ("knave", i).
OPERATORS = ["and", "or", "->", "<=>"]


def _claim(rng: random.Random, speaker: int, n_people: int) -> tuple:
    while True:
        claim = (rng.choice(["knight", "knave"]), rng.randrange(n_people))
        if claim != ("knave", speaker):  # "I am a knave" has no consistent speaker; K&K never samples it
            return claim


def _statement(rng: random.Random, speaker: int, n_people: int) -> tuple:
    # K&K's sampler with depth 2 and width 2: a claim, its negation, or two different claims joined, each 1 in 6.
    kind = rng.randrange(6)
    if kind == 0:
        return _claim(rng, speaker, n_people)
    if kind == 1:
        return ("not", _claim(rng, speaker, n_people))
    first = _claim(rng, speaker, n_people)
    second = _claim(rng, speaker, n_people)
    while second == first:
        second = _claim(rng, speaker, n_people)
    return (OPERATORS[kind - 2], first, second)


def is_true(statement: tuple, knights: tuple[bool, ...]) -> bool:
    """The truth of a statement when `knights[i]` says whether person i is a knight."""
    kind = statement[0]
    if kind == "knight":
        return knights[statement[1]]
    if kind == "knave":
        return not knights[statement[1]]
    if kind == "not":
        return not is_true(statement[1], knights)
    a, b = is_true(statement[1], knights), is_true(statement[2], knights)
    return {"and": a and b, "or": a or b, "->": (not a) or b, "<=>": a == b}[kind]


def solutions(statements: list[tuple], limit: int = 2) -> list[tuple[bool, ...]]:
    """Up to `limit` assignments (True = knight) in which every knight's statement is true and every knave's false."""
    found = []
    for knights in itertools.product([True, False], repeat=len(statements)):
        if all(is_true(s, knights) == knights[i] for i, s in enumerate(statements)):
            found.append(knights)
            if len(found) == limit:
                break
    return found


def _say(statement: tuple, names: list[str]) -> str:
    kind = statement[0]
    if kind in ("knight", "knave"):
        return f"{names[statement[1]]} is a {kind}"
    if kind == "not":
        inner = statement[1]
        return f"{names[inner[1]]} is not a {inner[0]}"
    first, second = _say(statement[1], names), _say(statement[2], names)
    if kind == "->":
        return f"if {first} then {second}"
    return f"{first} {'if and only if' if kind == '<=>' else kind} {second}"


def quiz_text(statements: list[tuple], names: list[str], rng: random.Random) -> str:
    """The puzzle in K&K's words, each statement reported in a randomly chosen way."""
    listed = ", ".join(names[:-1]) + ", and " + names[-1]
    sentences = []
    for speaker, statement in enumerate(statements):
        template = rng.choice(QUOTED + REPORTED)
        content = _say(statement, names)
        if template in QUOTED:
            content = content[0].upper() + content[1:]
        sentences.append(template.format(name=names[speaker], content=content))
    return ("A very special island is inhabited only by knights and knaves. Knights always tell the truth, and knaves"
            f" always lie. You meet {len(names)} inhabitants: {listed}. " + " ".join(sentences)
            + " So who is a knight and who is a knave?")


def solution_text(names: list[str], solution: list[bool]) -> str:
    """The answer in Logic-RL's format: "(1) Ella is a knight", one line per person."""
    return "\n".join(f"({i}) {name} is a {'knight' if knight else 'knave'}"
                     for i, (name, knight) in enumerate(zip(names, solution), start=1))


def make_row(quiz: str, names: list[str], solution: list[bool], system_prompt: str = SYSTEM_PROMPT) -> dict:
    """One dataset row: the puzzle, its solution, and the chat prompt with the assistant's turn opened by <think>."""
    names, solution = [str(n) for n in names], [bool(s) for s in solution]
    return {
        "quiz": quiz,
        "names": names,
        "solution": solution,
        "solution_text": solution_text(names, solution),
        "prompt": [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": quiz + "\n"},
            {"role": "assistant", "content": "<think>"},
        ],
    }


def puzzles(n_people: int, seed: int = 0, system_prompt: str = SYSTEM_PROMPT) -> Iterator[dict]:
    """Rows of new puzzles for `n_people` people, without end; the same seed gives the same puzzles. No two rows of
    one stream share their statements, so the first rows can train and the next ones test (even 3 people allow about
    300,000 different puzzles)."""
    if not MIN_PEOPLE <= n_people <= MAX_PEOPLE:
        raise ValueError(f"n_people must be from {MIN_PEOPLE} to {MAX_PEOPLE}, not {n_people}")
    rng = random.Random(seed)
    seen = set()
    while True:
        statements = [_statement(rng, speaker, n_people) for speaker in range(n_people)]
        key = tuple(statements)
        if key in seen:
            continue
        found = solutions(statements)
        if len(found) != 1:
            continue
        seen.add(key)
        names = rng.sample(NAMES, n_people)
        yield make_row(quiz_text(statements, names, rng), names, list(found[0]), system_prompt)


def generate(count: int, n_people: int, seed: int = 0, system_prompt: str = SYSTEM_PROMPT, start: int = 0) -> Dataset:
    """Puzzles `start` to `start + count - 1` of the stream for this seed and size, as a dataset."""
    return Dataset.from_list(list(itertools.islice(puzzles(n_people, seed, system_prompt), start, start + count)))


def load_parquet(path: str, system_prompt: str = SYSTEM_PROMPT) -> Dataset:
    """Logic-RL's preprocessed K&K file (e.g. `knights_knaves/5ppl/test.parquet`), rebuilt from `quiz`, `names` and
    `solution`; its `prompt` column is already templated for Qwen, so it is not used."""
    if not os.path.isfile(path):
        raise RecipeError(f"no Knights and Knaves file at {path} (expected Logic-RL's parquet with 'quiz', 'names'"
                          " and 'solution' columns, e.g. knights_knaves/5ppl/test.parquet)")
    if not os.path.getsize(path):
        raise RecipeError(f"{path}: empty file")
    columns = ["quiz", "names", "solution"]
    try:
        missing = set(columns) - set(pq.read_schema(path).names)
    except pa.ArrowInvalid as e:  # empty, cut short, or not parquet at all
        raise RecipeError(f"{path}: not a parquet file ({e})") from None
    if missing:
        raise RecipeError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
    rows = pq.read_table(path, columns=columns).to_pylist()
    if not rows:
        raise RecipeError(f"{path}: no puzzles in the file")
    return Dataset.from_list([make_row(r["quiz"], r["names"], r["solution"], system_prompt) for r in rows])


def eval_sets(sizes, count: int, seed: int, held_out: int, test_dir: str | None = None) -> dict:
    """{"3ppl": rows, …}: for each size, the first `count` puzzles of Logic-RL's DIR/{N}ppl/test.parquet (`test_dir`),
    or of the first `held_out` puzzles of the stream for `seed` (those that training skips), with the `question` and
    `answer` columns that the evaluation reads."""
    sets = {}
    for people in sizes:
        if test_dir:
            rows = load_parquet(os.path.join(test_dir, f"{people}ppl", "test.parquet"))
        else:
            rows = generate(min(count, held_out), people, seed)
        rows = rows.select(range(min(count, len(rows))))
        sets[f"{people}ppl"] = rows.map(lambda row: {"question": row["quiz"], "answer": row["solution_text"]})
    return sets
