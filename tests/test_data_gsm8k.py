"""GSM8K dataset building: gold answers, chat prompts, dropped rows, local files."""

import json

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from data import gsm8k, prompts
from recipes.errors import RecipeError

SYSTEM = "Answer with <answer>...</answer>."


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_real_train_split_every_row_gets_a_gold_answer(gsm8k_dir):
    rows = gsm8k.load(gsm8k_dir, "train", SYSTEM)
    assert len(rows) == 7473
    assert all(a and a.lstrip("-").replace(".", "", 1).isdigit() for a in rows["answer"])
    assert rows[0]["answer"] == "72"  # Natalia's clips


def test_real_test_split_loads_from_a_single_file(gsm8k_dir):
    assert len(gsm8k.load(f"{gsm8k_dir}/test.jsonl", "ignored", SYSTEM)) == 1319


def test_rows_become_chat_prompts_with_gold_answers(tmp_path, capsys):
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"question": "Q1?", "answer": "work\n#### 1,080"},
        {"question": "Q2?", "answer": "no marker here"},
        {"question": "Q3?", "answer": "#### 7 "},
    ])
    rows = gsm8k.load(path, "train", SYSTEM)
    assert rows["answer"] == ["1080", "7"]
    assert rows[0]["prompt"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Q1?"}]
    assert rows[0]["solution"] == "work\n#### 1,080"
    assert "dropped 1 of 3 rows with no '####' answer" in capsys.readouterr().out


def test_a_json_file_may_hold_a_list_of_rows(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"question": "Q?", "answer": "#### 3"}, {"question": "Q2?", "answer": "#### 4"}]))
    assert gsm8k.load(str(path), "train", SYSTEM)["answer"] == ["3", "4"]
    path.write_text(json.dumps([{"question": "Q?", "answer": "#### 3"}, ["Q2?", "#### 4"]]))
    with pytest.raises(RecipeError, match="train.json, row 2: not a JSON object"):
        gsm8k.load(str(path), "train", SYSTEM)
    path.write_text(json.dumps({"question": "Q?", "answer": "#### 3"}))
    with pytest.raises(RecipeError, match=r"train.json: not a list of rows"):
        gsm8k.load(str(path), "train", SYSTEM)


def test_a_folder_is_read_as_split_files(tmp_path):
    write_jsonl(tmp_path / "test.jsonl", [{"question": "Q?", "answer": "#### 3"}])
    assert gsm8k.load(str(tmp_path), "test", SYSTEM)["answer"] == ["3"]


def test_long_prompts_are_dropped_and_counted(tmp_path, tiny_model, capsys):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    path = write_jsonl(tmp_path / "t.jsonl", [
        {"question": "short?", "answer": "#### 1"},
        {"question": "long " * 400, "answer": "#### 2"},
    ])
    limit = prompts.prompt_tokens(tokenizer, [{"role": "user", "content": "x" * 300}])
    rows = gsm8k.load(path, "train", SYSTEM, tokenizer, max_prompt_tokens=limit)
    assert rows["answer"] == ["1"]
    assert "dropped 1 of 2 prompts longer than" in capsys.readouterr().out
    with pytest.raises(RecipeError, match=r"t.jsonl: no usable rows \(2 dropped: prompts longer than 3 tokens\)"):
        gsm8k.load(path, "train", SYSTEM, tokenizer, max_prompt_tokens=3)


@pytest.mark.parametrize("source", ["missing/train.jsonl", "./nowhere"])
def test_missing_local_file_says_where(tmp_path, source):
    with pytest.raises(RecipeError, match="no GSM8K file"):
        gsm8k.load(str(tmp_path / source), "train", SYSTEM)


def test_rows_without_question_or_answer_fields_are_refused(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question": "Q?", "answer": "#### 1"}, {"prompt": "x", "answer": 1}])
    with pytest.raises(RecipeError, match="bad.jsonl, row 2: no text in 'question', 'answer'"):
        gsm8k.load(path, "train", SYSTEM)
    with pytest.raises(RecipeError, match="rows need 'question' and 'answer' fields; missing: question"):
        gsm8k.build_prompts(Dataset.from_list([{"answer": "#### 1"}]), SYSTEM)


@pytest.mark.parametrize("text, message", [
    ('{"question": "Q?", "answer": "#### 1"}\n{"question": "Q2?", "answer": \n', r"bad.jsonl, row 2: not JSON"),
    ('\n["Q?", "#### 1"]\n', r"bad.jsonl, row 2: not a JSON object"),
    ("", r"bad.jsonl: empty file"),
    ("\n  \n", r"bad.jsonl: empty file"),
    (b"\xff\xfe", r"bad.jsonl: not UTF-8 text"),
    ('{"question": "Q?", "answer": "1"}\n{"question": "Q2?", "answer": "no marker"}\n',
     r"bad.jsonl: no usable rows \(2 dropped: no '####' answer\)"),
])
def test_a_broken_file_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(RecipeError, match=message) as error:
        gsm8k.load(str(path), "train", SYSTEM)
    assert "\n" not in str(error.value)
