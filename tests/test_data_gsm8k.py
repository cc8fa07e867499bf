"""GSM8K dataset building: gold answers, chat prompts, dropped rows, local files."""

import json

import pytest
from transformers import AutoTokenizer

from data import gsm8k, prompts

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
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        gsm8k.load(path, "train", SYSTEM, tokenizer, max_prompt_tokens=3)


@pytest.mark.parametrize("source", ["missing/train.jsonl", "./nowhere"])
def test_missing_local_file_says_where(tmp_path, source):
    with pytest.raises(FileNotFoundError, match="no GSM8K file"):
        gsm8k.load(str(tmp_path / source), "train", SYSTEM)


def test_rows_without_question_or_answer_fields_are_refused(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "x", "solution": "#### 1"}])
    with pytest.raises(ValueError, match="'question' and 'answer'"):
        gsm8k.load(path, "train", SYSTEM)
