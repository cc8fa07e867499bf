"""Countdown puzzles (TinyZero's task) for GRPO: from the hub's `Jiayi-Pan/Countdown-Tasks-3to4` cut as TinyZero cut
it, from local parquet or JSONL files, or generated from a seed.

Each row has `nums` (the numbers, each to be used once), `target`, and `prompt`: by default TinyZero's prompt for a
base model, plain text that opens the assistant's turn ("Assistant: Let me solve this step by step.\\n<think>"); with
`chat=True` its prompt for Qwen's Instruct model as chat messages: a system and a user message, and an assistant
message pre-filled with "Let me solve this step by step.\\n<think>". Qwen's chat template, continuing that last
message, writes TinyZero's Qwen-instruct text exactly. TRL 1.14.2's GRPOTrainer renders chat prompts with
`add_generation_prompt=True`, which closes the assistant message and opens a new one; render them to text first with
`trl.data_utils.maybe_apply_chat_template`, which continues the final assistant message instead. TRL passes `nums`
and `target` to the reward (`rewards.countdown.countdown_reward`); a source's other columns (UFT's copy has its own
`prompt` and `answer`) are left out, with a line that names them, so that none is taken for the prompt or a gold
answer (data/columns.py).

Generated puzzles (`puzzles`, `generate`) have the hub set's shape, as measured on its first 11,264 rows: 3 or 4
numbers (about half each) from 1 to 99, repeats allowed, and a target from 10 to 100; each is kept only if `solve`
finds an equation for it.
"""

import itertools
import os
import random
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, load_dataset

from data.columns import keep_columns
from data.files import read_rows
from data.prompts import drop_long_prompts
from recipes.errors import RecipeError
from rewards.countdown import equation_value

HUB_ID = "Jiayi-Pan/Countdown-Tasks-3to4"
# TinyZero's examples/data_preprocess/countdown.py: the hub's `train` split, its first TRAIN_SIZE rows to train on
# and the next TEST_SIZE to test on (--train_size 327680, --test_size 1024 by default, as its README runs it). A
# copy cut with train_size=10_240 (UFT's) tests on other rows: 10,240 to 11,263.
TRAIN_SIZE, TEST_SIZE = 327_680, 1_024
COLUMNS = ("target", "nums")

# TinyZero's make_prefix, word for word: the "base" template, and the "qwen-instruct" one as chat messages (its
# space before "Using" included).
TASK = ("Using the numbers {nums}, create an equation that equals {target}. You can use basic arithmetic operations"
        " (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return"
        " the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.")
BASE_PROMPT = ("A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The"
               " assistant first thinks about the reasoning process in the mind and then provides the user with the"
               " answer.\nUser: " + TASK + "\nAssistant: Let me solve this step by step.\n<think>")
SYSTEM_PROMPT = ("You are a helpful assistant. You first thinks about the reasoning process in the mind and then"
                 " provides the user with the answer.")
PREFILL = "Let me solve this step by step.\n<think>"

MIN_NUMBER, MAX_NUMBER = 1, 99
MIN_TARGET, MAX_TARGET = 10, 100


def make_row(nums: list[int], target: int, chat: bool = False) -> dict:
    """One dataset row: the puzzle and its prompt, TinyZero's base-model text or (`chat`) its Instruct messages."""
    nums, target = [int(n) for n in nums], int(target)
    if not chat:
        return {"nums": nums, "target": target, "prompt": BASE_PROMPT.format(nums=nums, target=target)}
    return {"nums": nums, "target": target, "prompt": [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": " " + TASK.format(nums=nums, target=target)},
        {"role": "assistant", "content": PREFILL},
    ]}


def _combined(a: float, x: str, b: float, y: str) -> list[tuple[float, str]]:
    """The values of a and b joined by + - * / (both ways round), each with its equation."""
    results = [(a + b, f"({x} + {y})"), (a - b, f"({x} - {y})"), (b - a, f"({y} - {x})"), (a * b, f"({x} * {y})")]
    if b:
        results.append((a / b, f"({x} / {y})"))
    if a:
        results.append((b / a, f"({y} / {x})"))
    return results


def _candidates(values: list[float], equations: list[str], target: int) -> Iterator[str]:
    """Equations that join all the values, two at a time, into one within 1e-6 of `target` in floating point."""
    for i, j in itertools.combinations(range(len(values)), 2):
        rest = [k for k in range(len(values)) if k not in (i, j)]
        for value, equation in _combined(values[i], equations[i], values[j], equations[j]):
            if not rest:
                if abs(value - target) < 1e-6:
                    yield equation
            else:
                yield from _candidates([values[k] for k in rest] + [value], [equations[k] for k in rest] + [equation],
                                        target)


def solve(nums: list[int], target: int) -> str | None:
    """An equation that uses each of `nums` once and equals `target`, or None if there is none: every way of joining
    them is tried (a few thousand for 4 numbers; the count grows factorially), in floating point for speed, and a
    candidate counts only if the reward's exact evaluator agrees."""
    if len(nums) == 1:
        return str(nums[0]) if nums[0] == target else None
    for equation in _candidates([float(n) for n in nums], [str(n) for n in nums], target):
        if equation_value(equation, nums) == target:
            return equation[1:-1]
    return None


def puzzles(seed: int = 0, chat: bool = False) -> Iterator[dict]:
    """Rows of new solvable puzzles, without end; the same seed gives the same puzzles. No two rows of one stream
    have the same numbers (in any order) and target, so the first rows can train and the next ones test."""
    rng = random.Random(seed)
    seen = set()
    while True:
        count = rng.choice((3, 4))
        while True:  # drawn again until solvable, so that 3 numbers (solvable 1 time in 30; 4: 1 in 7) keep their half
            nums = [rng.randint(MIN_NUMBER, MAX_NUMBER) for _ in range(count)]
            target = rng.randint(MIN_TARGET, MAX_TARGET)
            key = (tuple(sorted(nums)), target)
            if key not in seen and solve(nums, target) is not None:
                break
        seen.add(key)
        yield make_row(nums, target, chat)


def generate(count: int, seed: int = 0, chat: bool = False, start: int = 0) -> Dataset:
    """`count` puzzles of the stream for this seed, from its `start`-th on, as a dataset."""
    return Dataset.from_list(list(itertools.islice(puzzles(seed, chat), start, start + count)))


def local_file(source: str, split: str) -> str | None:
    """The file `source` names for `split`: a folder's `<split>.parquet` (else `<split>.jsonl`), or the file itself;
    None for a hub id."""
    if os.path.isdir(source):
        parquet = os.path.join(source, f"{split}.parquet")
        return parquet if os.path.isfile(parquet) else os.path.join(source, f"{split}.jsonl")
    if source.endswith((".parquet", ".jsonl", ".json")) or os.path.exists(source) or source.startswith((".", "/")):
        return source
    return None


def _check(row: dict, where: str) -> None:
    """A RecipeError saying what is wrong with the row's `target` and `nums`, if anything is."""
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        raise RecipeError(f"{where}: no {' or '.join(repr(c) for c in missing)}")
    target, nums = row["target"], row["nums"]
    if not isinstance(target, int) or isinstance(target, bool):
        raise RecipeError(f"{where}: 'target' must be an integer, not {target!r:.40}")
    if not (isinstance(nums, list) and nums and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                                    for n in nums)):
        raise RecipeError(f"{where}: 'nums' must be a list of non-negative integers, not {nums!r:.60}")


def _read_rows(path: str) -> list[dict]:
    """The checked `target` and `nums` of each row of a parquet file, or of a JSONL file (one JSON object a line);
    the file's other columns are left out, with a line that names them."""
    if not os.path.isfile(path):
        raise RecipeError(f"no Countdown file at {path} (expected parquet or JSONL rows with 'target' and"
                                " 'nums', or a folder of train/test files)")
    if not path.endswith(".parquet"):
        rows = read_rows(path, check=_check)
        kept = keep_columns([name for row in rows for name in row], COLUMNS, path)
        return [{name: row[name] for name in kept} for row in rows]
    try:
        names = pq.read_schema(path).names
        missing = [c for c in COLUMNS if c not in names]
        table = None if missing else pq.read_table(path, columns=keep_columns(names, COLUMNS, path))
    except (pa.ArrowException, OSError) as e:
        raise RecipeError(f"{path}: not a readable parquet file ({e})") from None
    if missing:
        raise RecipeError(f"{path} has no column(s) {', '.join(missing)}")
    rows = table.to_pylist()
    for i, row in enumerate(rows, start=1):
        _check(row, f"{path}, row {i}")
    return rows


def load_split(source: str = HUB_ID, split: str = "train", train_size: int = TRAIN_SIZE,
               test_size: int = TEST_SIZE) -> Dataset:
    """The `target` and `nums` of one split: from a hub id, TinyZero's cut of its `train` split (`train` is the first
    `train_size` rows, `test` the next `test_size`); from a folder, its `<split>` file; from one file, all of it."""
    path = local_file(source, split)
    if path is not None:
        if os.path.isdir(source) and not os.path.isfile(path):
            raise RecipeError(f"no {split}.parquet or {split}.jsonl in {source}")
        rows = _read_rows(path)
        if not rows:
            raise RecipeError(f"{path}: no puzzles in the file")
        return Dataset.from_list(rows)
    cuts = {"train": range(train_size), "test": range(train_size, train_size + test_size)}
    if split not in cuts:
        raise RecipeError(f"a hub dataset is cut into 'train' and 'test' as TinyZero cut it, not {split!r}")
    raw = load_dataset(source, split="train")
    missing = [c for c in COLUMNS if c not in raw.column_names]
    if missing:
        raise RecipeError(f"{source} has no column(s) {', '.join(missing)}")
    if len(raw) < train_size + test_size:
        raise RecipeError(f"{source} has {len(raw)} rows, fewer than train_size + test_size = "
                         f"{train_size + test_size}")
    return raw.select(cuts[split]).select_columns(keep_columns(raw.column_names, COLUMNS, source))


def load(source: str = HUB_ID, split: str = "train", chat: bool = False, tokenizer=None,
         max_prompt_tokens: int | None = None, train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE) -> Dataset:
    """A Countdown split ready for GRPOTrainer: `prompt`, `nums` and `target`; prompts over `max_prompt_tokens` are
    dropped (TRL no longer truncates or drops long prompts itself)."""
    raw = load_split(source, split, train_size, test_size)
    rows = raw.map(lambda row: make_row(row["nums"], row["target"], chat))
    if tokenizer is not None and max_prompt_tokens is not None:
        rows = drop_long_prompts(rows, tokenizer, max_prompt_tokens)
    return rows
