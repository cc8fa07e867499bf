"""Local data files, read with one clear error for each way they go wrong: missing, empty, broken (with the row)."""

import json
import os
from collections.abc import Callable

from recipes.errors import RecipeError


def read_rows(path: str, text_fields: tuple[str, ...] = (), check: Callable[[dict, str], None] | None = None
              ) -> list[dict]:
    """The rows of a JSONL file (one JSON object a line, blank lines skipped), or of a `.json` file that holds a list
    of objects; each row must have a string in every one of `text_fields`, and pass `check(row, where)` if given
    (`where` names the row in its errors: "data.jsonl, row 3")."""
    if path.endswith(".json"):
        rows = read_json(path)
        if not isinstance(rows, list):
            raise RecipeError(f"{path}: not a list of rows ([{{\"field\": value, ...}}, ...])")
        numbered = enumerate(rows, start=1)
    else:
        numbered = ((number, parse_line(path, number, line))
                    for number, line in enumerate(read_text(path).split("\n"), start=1)  # JSON may hold U+2028
                    if line.strip())
    checked = [check_row(path, number, row, text_fields, check) for number, row in numbered]
    if not checked:
        raise RecipeError(f"{path}: no rows in the file")
    return checked


def read_json(path: str):
    """What a JSON file holds."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise RecipeError(f"{path}, line {e.lineno}: not JSON ({e.msg}, column {e.colno})") from None


def read_text(path: str) -> str:
    if not os.path.isfile(path):
        raise RecipeError(f"no such file: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise RecipeError(f"{path}: empty file")
    return text


def parse_line(path: str, number: int, line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise RecipeError(f"{path}, row {number}: not JSON ({e.msg}, column {e.colno})") from None


def check_row(path: str, number: int, row, text_fields: tuple[str, ...],
              check: Callable[[dict, str], None] | None = None) -> dict:
    if not isinstance(row, dict):
        raise RecipeError(f"{path}, row {number}: not a JSON object ({{\"field\": value, ...}})")
    missing = [name for name in text_fields if not isinstance(row.get(name), str)]
    if missing:
        raise RecipeError(f"{path}, row {number}: no text in {', '.join(repr(name) for name in missing)}")
    if check:
        check(row, f"{path}, row {number}")
    return row
