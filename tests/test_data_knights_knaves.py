"""Knights and Knaves data: generated puzzles are checked by reading their text back into logic and trying every
knight/knave assignment here, independently of the generator; Logic-RL's files load when ../shared/data has them."""

import itertools
import re

import pytest
from conftest import CHATML

from data import knights_knaves as kk
from recipes.errors import RecipeError
from rewards.knights_knaves import kk_reward

QUESTION = " So who is a knight and who is a knave?"


def read_statements(quiz: str, names: list[str]) -> dict[int, tuple]:
    """{speaker: statement} from the quiz text. A claim is (person, "knight" or "knave", negated); a statement is
    (op, claim, claim) with op "is", "and", "or", "if", "iff" (the second claim of "is" unused)."""
    listed = ", ".join(names[:-1]) + ", and " + names[-1]
    intro, body = quiz.split(f"You meet {len(names)} inhabitants: {listed}. ")
    assert intro == "A very special island is inhabited only by knights and knaves. Knights always tell the truth, " \
                    "and knaves always lie. "
    assert body.endswith(QUESTION)
    who = "|".join(re.escape(n) for n in names)
    claim = rf"({who}) is (not )?a (knight|knave)"
    forms = [("if", rf"[Ii]f {claim} then {claim}"), ("iff", rf"{claim} if and only if {claim}"),
             ("and", rf"{claim} and {claim}"), ("or", rf"{claim} or {claim}"), ("is", claim)]
    sentences = re.split(r'(?<=\.)"? ', body[: -len(QUESTION)])
    assert len(sentences) == len(names), "one statement per person"
    statements = {}
    for sentence in sentences:
        op, found = next((op, m) for op, pattern in forms if (m := re.search(pattern, sentence)))
        g = found.groups()
        claims = [(names.index(g[i]), g[i + 2], bool(g[i + 1])) for i in range(0, len(g), 3)]
        frame = sentence[: found.start()] + "{}" + sentence[found.end():]
        speakers = re.findall(rf"\b({who})\b", frame)
        assert len(speakers) == 1, sentence
        statements[names.index(speakers[0])] = (op, claims[0], claims[-1])
    assert sorted(statements) == list(range(len(names))), "each person speaks once"
    return statements


def consistent_assignments(statements: dict[int, tuple], n: int) -> list[list[bool]]:
    def holds(claim, knights):
        person, role, negated = claim
        return knights[person] == ((role == "knight") != negated)

    def true(statement, knights):
        op, a, b = statement[0], holds(statement[1], knights), holds(statement[2], knights)
        return {"is": a, "and": a and b, "or": a or b, "if": (not a) or b, "iff": a == b}[op]

    return [list(k) for k in itertools.product([True, False], repeat=n)
            if all(true(statements[i], k) == k[i] for i in range(n))]


def gold_completion(row) -> str:
    return f"Checked.</think>\n<answer>{row['solution_text']}</answer>"


# ---- generated puzzles ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_people", range(3, 9))
def test_every_puzzle_has_exactly_its_one_solution(n_people):
    rows = kk.generate(40, n_people, seed=n_people)
    for row in rows:
        assert len(row["names"]) == len(set(row["names"])) == len(row["solution"]) == n_people
        assert consistent_assignments(read_statements(row["quiz"], row["names"]), n_people) == [row["solution"]]


def test_solution_text_and_prompt():
    row = kk.generate(1, 4, seed=7)[0]
    assert row["solution_text"].splitlines() == [
        f"({i}) {name} is a {'knight' if knight else 'knave'}"
        for i, (name, knight) in enumerate(zip(row["names"], row["solution"]), start=1)]
    assert row["prompt"] == [
        {"role": "system", "content": kk.SYSTEM_PROMPT},
        {"role": "user", "content": row["quiz"] + "\n"},
        {"role": "assistant", "content": "<think>"},
    ]
    assert "<think> </think>" in kk.SYSTEM_PROMPT and "<answer> (1) Zoey is a knight\n(2) ..." in kk.SYSTEM_PROMPT


def test_same_seed_same_puzzles_other_seed_other_puzzles():
    first = kk.generate(50, 5, seed=1)
    assert kk.generate(50, 5, seed=1).to_list() == first.to_list()
    assert next(kk.puzzles(5, seed=1)) == first[0]
    other = kk.generate(50, 5, seed=2)
    assert not set(first["quiz"]) & set(other["quiz"])


def test_a_stream_never_repeats_a_puzzle():
    rows = kk.generate(2000, 3, seed=0)
    statements = {tuple(sorted(read_statements(q, n).items())) for q, n in zip(rows["quiz"], rows["names"])}
    assert len(statements) == 2000


def test_puzzles_vary_like_k_and_k():
    quizzes = " ".join(kk.generate(300, 5, seed=3)["quiz"])
    for wording in ["is not a knight", "is not a knave", " and ", " or ", '"If ', "that if ", "if and only if",
                    " then ", "told you that", " - ", "In a statement by", "was heard saying"]:
        assert wording in quizzes, wording
    knights = sum(sum(s) for s in kk.generate(300, 5, seed=3)["solution"])
    assert 0.3 < knights / 1500 < 0.7


@pytest.mark.parametrize("n_people", [0, 2, 9])
def test_sizes_outside_3_to_8_are_refused(n_people):
    with pytest.raises(ValueError, match="from 3 to 8"):
        next(kk.puzzles(n_people))


def test_generated_gold_answers_score_three():
    rows = kk.generate(20, 6, seed=0)
    scores = kk_reward(rows["prompt"], [gold_completion(r) for r in rows], rows["names"], rows["solution"])
    assert scores == [3.0] * 20


# ---- the chat prompt as the model sees it -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def chatml_tokenizer():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tokenizer.chat_template = CHATML  # Qwen2.5's template, for prompts without tools
    return tokenizer


def test_rendering_continues_the_prefilled_think(chatml_tokenizer):
    from trl.data_utils import maybe_apply_chat_template

    row = kk.generate(1, 3, seed=0)[0]
    text = maybe_apply_chat_template(row, chatml_tokenizer)["prompt"]
    assert text.endswith("<|im_start|>assistant\n<think>")
    assert kk_reward([text], [gold_completion(row)], [row["names"]], [row["solution"]]) == [3.0]
    # What GRPOTrainer (TRL 1.14.2) does with chat prompts: the pre-filled turn is closed and a new one opened.
    closed = chatml_tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    assert closed.endswith("<think><|im_end|>\n<|im_start|>assistant\n")


# ---- Logic-RL's files (CC BY-NC-SA: read from ../shared/data, never copied into the project) ----------------------

@pytest.mark.parametrize("n_people", range(3, 8))
@pytest.mark.parametrize("split, size", [("train", 900), ("test", 100)])
def test_real_files_load(kk_dir, chatml_tokenizer, n_people, split, size):
    import pyarrow.parquet as pq
    from trl.data_utils import maybe_apply_chat_template

    path = kk_dir / f"{n_people}ppl" / f"{split}.parquet"
    rows = kk.load_parquet(str(path))
    original = pq.read_table(path, columns=["solution_text_format", "prompt"]).to_pylist()
    assert len(rows) == len(original) == size
    assert rows["solution_text"] == [r["solution_text_format"] for r in original]
    for row, source in zip(rows, original):
        assert len(row["names"]) == len(row["solution"]) == n_people
        # Qwen's template over our messages gives back Logic-RL's pre-templated prompt, byte for byte.
        assert maybe_apply_chat_template(row, chatml_tokenizer)["prompt"] == source["prompt"][0]["content"]
    # the same checks as for generated puzzles, which also shows the checks read K&K's wording
    for row in rows.select(range(50)):
        assert consistent_assignments(read_statements(row["quiz"], row["names"]), n_people) == [row["solution"]]
    scores = kk_reward(rows["prompt"], [gold_completion(r) for r in rows], rows["names"], rows["solution"])
    assert scores == [3.0] * size


def test_a_missing_file_says_what_was_expected(tmp_path):
    with pytest.raises(RecipeError, match="no Knights and Knaves file at .*nope.parquet"):
        kk.load_parquet(str(tmp_path / "nope.parquet"))


def test_a_file_without_the_columns_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"quiz": ["Who?"], "answer": ["x"]}), path)
    with pytest.raises(RecipeError, match="names, solution"):
        kk.load_parquet(str(path))


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"), (b"quiz,names,solution\n", "not a parquet file"), (None, "no puzzles in the file")])
def test_an_empty_or_broken_file_is_one_clear_error(tmp_path, content, message):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "test.parquet"
    if content is None:
        pq.write_table(pa.table({"quiz": pa.array([], pa.string()), "names": pa.array([], pa.list_(pa.string())),
                                 "solution": pa.array([], pa.list_(pa.bool_()))}), path)
    else:
        path.write_bytes(content)
    with pytest.raises(RecipeError, match=f"test.parquet: {message}"):
        kk.load_parquet(str(path))
