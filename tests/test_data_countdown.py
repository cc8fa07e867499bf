"""Countdown data: TinyZero's prompts word for word, its split of the hub set, local files, bad files, and generated
puzzles, whose solvability is checked against every expression there is, evaluated by the reward's own evaluator."""

import itertools
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from tinyzero_reference import BASE, QWEN_INSTRUCT
from transformers import AutoTokenizer
from trl.data_utils import maybe_apply_chat_template

from data import countdown, prompts
from recipes.errors import RecipeError
from rewards.countdown import countdown_reward, equation_value

COLUMNS = {"target", "nums", "prompt"}


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def right_answers(rows) -> list[float]:
    """The reward of `solve`'s equation for each row."""
    answers = [f"</think>\n<answer> {countdown.solve(r['nums'], r['target'])} </answer>" for r in rows]
    return countdown_reward([r["prompt"] for r in rows], answers, [r["nums"] for r in rows],
                            [r["target"] for r in rows])


# ---- prompts -------------------------------------------------------------------------------------------------------

def test_base_prompt_is_tinyzero_text():
    row = countdown.make_row([44, 19, 35], 98)
    assert row == {"nums": [44, 19, 35], "target": 98, "prompt": BASE.format(numbers=[44, 19, 35], target=98)}


def test_chat_prompt_renders_as_tinyzero_instruct_text(tiny_model):
    """Rendered as the recipe renders it (continuing the pre-filled assistant message), with Qwen's template shape."""
    row = countdown.make_row([47, 76, 55, 60], 24, chat=True)
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant"]
    rendered = maybe_apply_chat_template({"prompt": row["prompt"]}, AutoTokenizer.from_pretrained(tiny_model))
    assert rendered["prompt"] == QWEN_INSTRUCT.format(numbers=[47, 76, 55, 60], target=24)


# ---- TinyZero's split, as UFT's copy in ../shared/data holds it ------------------------------------------------------

def test_shared_files_load_with_tinyzero_prompts(countdown_dir):
    for split, size in [("train", 10_240), ("test", 1_024)]:
        rows = countdown.load(str(countdown_dir), split)
        assert len(rows) == size and set(rows.column_names) == COLUMNS  # the files' own prompt and answer are left out
        theirs = pq.read_table(countdown_dir / f"{split}.parquet", columns=["prompt"]).column("prompt").to_pylist()
        # UFT's prompts are TinyZero's base template with a space after the final <think>
        assert [p[0]["content"] for p in theirs] == [p + " " for p in rows["prompt"]]
    assert countdown.load(str(countdown_dir), "train")[0] == countdown.make_row([44, 19, 35], 98)


def test_shared_reference_solutions_score_1(countdown_dir):
    """The files' worked solutions, which end in `<answer> … </answer>` on their own line, are right by the reward."""
    for split in ("train", "test"):
        table = pq.read_table(countdown_dir / f"{split}.parquet", columns=["nums", "target", "answer"]).to_pylist()
        prompt = countdown.make_row([1], 1)["prompt"]
        scores = countdown_reward([prompt] * len(table), [r["answer"] for r in table], [r["nums"] for r in table],
                                  [r["target"] for r in table])
        assert scores == [1.0] * len(table)


def test_solve_finds_every_shared_test_puzzle(countdown_dir):
    rows = countdown.load(str(countdown_dir / "test.parquet"), "test", chat=True)
    assert rows[0]["prompt"][1]["content"].startswith(" Using the numbers [47, 76, 55, 60], create an equation that "
                                                      "equals 24.")
    assert right_answers(rows) == [1.0] * len(rows)


# ---- the hub: TinyZero's cut of its train split ----------------------------------------------------------------------

@pytest.fixture
def fake_hub(monkeypatch):
    """The hub's answer to `load_dataset`: `size` rows, numbered by their target, with a column the loader drops."""
    calls = []

    def hub(size):
        def load_dataset(name, **kwargs):
            calls.append((name, kwargs))
            return Dataset.from_dict({"target": list(range(size)), "nums": [[1, 2, 3]] * size,
                                      "answer": ["x"] * size})
        monkeypatch.setattr(countdown, "load_dataset", load_dataset)
        return calls

    return hub


def test_hub_split_is_tinyzeros(fake_hub):
    calls = fake_hub(countdown.TRAIN_SIZE + countdown.TEST_SIZE)
    rows = countdown.load(split="test")
    assert rows["target"] == list(range(327_680, 327_680 + 1_024))  # after TinyZero's 327,680 training rows
    assert set(rows.column_names) == COLUMNS
    assert calls == [("Jiayi-Pan/Countdown-Tasks-3to4", {"split": "train"})]


def test_hub_split_sizes_can_change(fake_hub):
    fake_hub(20)
    assert countdown.load(split="train", train_size=8, test_size=4)["target"] == list(range(8))
    assert countdown.load(split="test", train_size=8, test_size=4)["target"] == list(range(8, 12))
    with pytest.raises(RecipeError, match="has 20 rows, fewer than train_size \\+ test_size = 21"):
        countdown.load(split="test", train_size=17, test_size=4)
    with pytest.raises(RecipeError, match="'train' and 'test' as TinyZero cut it, not 'validation'"):
        countdown.load(split="validation")


# ---- local files ---------------------------------------------------------------------------------------------------

def test_jsonl_file_keeps_only_the_puzzle(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [
        {"target": 24, "nums": [4, 6, 1], "answer": "4 * 6 * 1", "prompt": "not this one"},
        "",
        {"target": 10, "nums": [2, 5, 4, 0]},
    ])
    rows = countdown.load(path, "ignored")
    assert rows.to_list() == [countdown.make_row([4, 6, 1], 24), countdown.make_row([2, 5, 4, 0], 10)]


def test_folder_reads_split_files_parquet_first(tmp_path):
    pq.write_table(pa.table({"target": [24], "nums": [[4, 6, 1]], "extra": ["x"]}), tmp_path / "train.parquet")
    write_jsonl(tmp_path / "train.jsonl", [{"target": 99, "nums": [99]}])
    write_jsonl(tmp_path / "test.jsonl", [{"target": 5, "nums": [2, 3]}])
    assert countdown.load(str(tmp_path), "train").to_list() == [countdown.make_row([4, 6, 1], 24)]
    assert countdown.load(str(tmp_path), "test", chat=True).to_list() == [countdown.make_row([2, 3], 5, chat=True)]


def test_long_prompts_are_dropped(tmp_path, tiny_model, capsys):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    path = write_jsonl(tmp_path / "t.jsonl", [{"target": 6, "nums": [1, 2, 3]}, {"target": 24, "nums": [11] * 40}])
    limit = prompts.prompt_tokens(tokenizer, countdown.make_row([1, 2, 3], 6)["prompt"])
    assert countdown.load(path, "train", tokenizer=tokenizer, max_prompt_tokens=limit)["target"] == [6]
    assert "dropped 1 of 2 prompts longer than" in capsys.readouterr().out


@pytest.mark.parametrize("lines, message", [
    pytest.param(['{"target": 5, "nums": [2, 3]}', "{oops"], "bad.jsonl, row 2: not JSON", id="not-json"),
    pytest.param(['{"target": 5}'], "row 1: no 'nums'", id="no-nums"),
    pytest.param(['{"nums": [2, 3]}'], "row 1: no 'target'", id="no-target"),
    pytest.param(['{"answer": 1}'], "row 1: no 'target' or 'nums'", id="neither"),
    pytest.param(["[5, [2, 3]]"], "row 1: not a JSON object", id="a-list"),
    pytest.param(['{"target": 5, "nums": "2 3"}'], "'nums' must be a list of non-negative integers", id="nums-text"),
    pytest.param(['{"target": 5, "nums": []}'], "'nums' must be a list of non-negative", id="nums-empty"),
    pytest.param(['{"target": 5, "nums": [2, -3]}'], "'nums' must be a list of non-negative", id="nums-negative"),
    pytest.param(['{"target": 5, "nums": [2.5, 3]}'], "'nums' must be a list of non-negative", id="nums-decimal"),
    pytest.param(['{"target": 5, "nums": [true, 3]}'], "'nums' must be a list of non-negative", id="nums-bool"),
    pytest.param(['{"target": 5.5, "nums": [2, 3]}'], "'target' must be an integer, not 5.5", id="target-decimal"),
    pytest.param(['{"target": "5", "nums": [2, 3]}'], "'target' must be an integer, not '5'", id="target-text"),
    pytest.param([], "bad.jsonl: empty file", id="empty"),
    pytest.param(["", "  "], "bad.jsonl: empty file", id="blank"),
    pytest.param(['{"target": 5, "nums": [2, 3]}', "", '{"target": 5}'], "bad.jsonl, row 3: no 'nums'",
                 id="numbered-by-line"),
])
def test_bad_jsonl_gets_one_clear_error(tmp_path, lines, message):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(RecipeError, match=message):
        countdown.load(path, "train")


def test_bad_parquet_gets_one_clear_error(tmp_path):
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(RecipeError, match="junk.parquet: not a readable parquet file"):
        countdown.load(str(tmp_path / "junk.parquet"), "train")
    pq.write_table(pa.table({"target": [5]}), tmp_path / "train.parquet")
    with pytest.raises(RecipeError, match="train.parquet has no column\\(s\\) nums"):
        countdown.load(str(tmp_path), "train")
    pq.write_table(pa.table({"target": [5, 6], "nums": [[2, 3], None]}), tmp_path / "test.parquet")
    with pytest.raises(RecipeError, match="parquet, row 2: 'nums' must be a list of non-negative integers, not None"):
        countdown.load(str(tmp_path), "test")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(RecipeError, match="no Countdown file at /nowhere/train.parquet"):
        countdown.load("/nowhere/train.parquet", "train")
    with pytest.raises(RecipeError, match="no test.parquet or test.jsonl in"):
        countdown.load(str(tmp_path), "test")


# ---- generated puzzles -----------------------------------------------------------------------------------------------

def test_generated_puzzles_are_seeded_solvable_and_distinct():
    rows = countdown.generate(120, seed=3).to_list()
    assert rows == countdown.generate(120, seed=3).to_list()
    assert rows[:10] == countdown.generate(10, seed=3).to_list()  # one stream: the first rows can train, the next test
    assert rows != countdown.generate(120, seed=4).to_list()
    sizes = [len(r["nums"]) for r in rows]
    assert set(sizes) == {3, 4} and 40 <= sizes.count(3) <= 80
    assert all(1 <= n <= 99 for r in rows for n in r["nums"]) and all(10 <= r["target"] <= 100 for r in rows)
    assert len({(tuple(sorted(r["nums"])), r["target"]) for r in rows}) == len(rows)
    assert right_answers(rows) == [1.0] * len(rows)


def test_generated_chat_puzzles_are_the_same_puzzles():
    plain, chat = countdown.generate(5, seed=1), countdown.generate(5, seed=1, chat=True)
    assert chat.to_list() == [countdown.make_row(r["nums"], r["target"], chat=True) for r in plain]


def every_expression(numbers: list[int]) -> set[str]:
    """Every fully parenthesised expression that uses each number once, in any order, with + - * /."""
    def shapes(items):
        if len(items) == 1:
            yield items[0]
            return
        for cut in range(1, len(items)):
            for left, right, op in itertools.product(shapes(items[:cut]), shapes(items[cut:]), "+-*/"):
                yield f"({left} {op} {right})"
    return {e for order in itertools.permutations([str(n) for n in numbers]) for e in shapes(list(order))}


def test_solve_agrees_with_trying_every_expression():
    rng = random.Random(0)
    puzzles = [([rng.randint(1, 20) for _ in range(3)], rng.randint(1, 60)) for _ in range(150)]
    puzzles += [([rng.randint(1, 99) for _ in range(4)], rng.randint(10, 100)) for _ in range(3)]
    puzzles += [(r["nums"], r["target"]) for r in countdown.generate(3, seed=9) if len(r["nums"]) == 4]
    found = 0
    for nums, target in puzzles:
        solvable = any(equation_value(e, nums) == target for e in every_expression(nums))
        equation = countdown.solve(nums, target)
        assert (equation is not None) == solvable, (nums, target)
        if equation is not None:
            assert equation_value(equation, nums) == target
            found += 1
    assert 20 <= found <= len(puzzles) - 20  # both answers were checked, many times
