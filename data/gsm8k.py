"""GSM8K as chat prompts for GRPO, from the hub (`openai/gsm8k`, config `main`) or from local JSONL files.

Each row keeps `question`, gains `prompt` (system + user messages) and `answer` (the gold answer the rewards read);
the worked solution moves to `solution`. A source's other columns are kept (TRL passes them to the rewards), but one
named `prompt` or `solution`, or a name GRPOTrainer uses itself, is refused (data/columns.py).
"""

import os

from datasets import Dataset, load_dataset

from data.columns import refuse_clashes
from data.files import read_rows
from data.prompts import drop_long_prompts
from recipes.errors import RecipeError, check_source
from rewards.gsm8k import extract_hash_answer

HUB_ID = "openai/gsm8k"


def local_file(source: str, split: str) -> str | None:
    """The file `source` names for `split` (a folder's `<split>.jsonl`, or a file), or None for a hub id."""
    if os.path.isdir(source):
        return os.path.join(source, f"{split}.jsonl")
    if source.endswith((".jsonl", ".json")) or os.path.exists(source) or source.startswith((".", "/")):
        return source
    return None


def load_split(source: str, split: str, config: str | None = "main") -> Dataset:
    """One split from a hub id, a folder holding `<split>.jsonl`, or one file: JSONL, or JSON holding a list."""
    path = local_file(source, split)
    if path is None:
        check_source(source, "dataset")
        try:
            return load_dataset(source, config, split=split)
        except ConnectionError as e:  # HF_HUB_OFFLINE=1, and not in the datasets cache
            raise RecipeError(f"cannot load dataset {source!r} ({e}): pass a local file or folder with "
                              "--dataset_name") from None
    if not os.path.isfile(path):
        raise RecipeError(f"no GSM8K file at {path} (expected JSONL rows with 'question' and 'answer')")
    return Dataset.from_list(read_rows(path, text_fields=("question", "answer")))


def build_prompts(raw: Dataset, system_prompt: str, tokenizer=None, max_prompt_tokens: int | None = None,
                  source: str = "GSM8K") -> Dataset:
    """Gold answers and chat prompts; drops rows without `####` and prompts over `max_prompt_tokens` (TRL no longer
    truncates or drops long prompts itself). `source` names the rows in errors."""
    missing = {"question", "answer"} - set(raw.column_names)
    if missing:
        raise RecipeError(f"{source}: GSM8K rows need 'question' and 'answer' fields; missing: "
                          f"{', '.join(sorted(missing))}")
    refuse_clashes(raw.column_names, ("prompt", "solution"), source)  # made here from 'question' and 'answer'
    rows = raw.rename_column("answer", "solution").map(lambda row: {
        "answer": extract_hash_answer(row["solution"]),
        "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": row["question"]}],
    })
    kept = rows.filter(lambda row: row["answer"] is not None)
    if not len(kept):
        raise RecipeError(f"{source}: no usable rows ({len(rows)} dropped: no '####' answer)")
    if len(kept) < len(rows):
        print(f"[data] dropped {len(rows) - len(kept)} of {len(rows)} rows with no '####' answer")
    if tokenizer is not None and max_prompt_tokens is not None:
        kept = drop_long_prompts(kept, tokenizer, max_prompt_tokens, source)
    return kept


def load(source: str, split: str, system_prompt: str, tokenizer=None, max_prompt_tokens: int | None = None,
         config: str | None = "main") -> Dataset:
    """A GSM8K split ready for GRPOTrainer: `prompt` messages and the gold `answer`."""
    return build_prompts(load_split(source, split, config), system_prompt, tokenizer, max_prompt_tokens,
                         local_file(source, split) or f"{source} ({split} split)")
