"""GSM8K as chat prompts for GRPO, from the hub (`openai/gsm8k`, config `main`) or from local JSONL files.

Each row keeps `question`, gains `prompt` (system + user messages) and `answer` (the gold answer the rewards read);
the worked solution moves to `solution`.
"""

import os

from datasets import Dataset, load_dataset

from data.prompts import drop_long_prompts
from rewards.gsm8k import extract_hash_answer

HUB_ID = "openai/gsm8k"


def load_split(source: str, split: str, config: str | None = "main") -> Dataset:
    """One split from a hub id, a folder holding `<split>.jsonl`, or a single JSONL file."""
    if os.path.isdir(source):
        path = os.path.join(source, f"{split}.jsonl")
    elif source.endswith((".jsonl", ".json")) or os.path.exists(source) or source.startswith((".", "/")):
        path = source
    else:
        return load_dataset(source, config, split=split)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no GSM8K file at {path} (expected JSONL rows with 'question' and 'answer')")
    return load_dataset("json", data_files=path, split="train")


def build_prompts(raw: Dataset, system_prompt: str, tokenizer=None, max_prompt_tokens: int | None = None) -> Dataset:
    """Gold answers and chat prompts; drops rows without `####` and prompts over `max_prompt_tokens` (TRL no longer
    truncates or drops long prompts itself)."""
    missing = {"question", "answer"} - set(raw.column_names)
    if missing:
        raise ValueError(f"GSM8K rows need 'question' and 'answer' fields; missing: {', '.join(sorted(missing))}")
    rows = raw.rename_column("answer", "solution").map(lambda row: {
        "answer": extract_hash_answer(row["solution"]),
        "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": row["question"]}],
    })
    kept = rows.filter(lambda row: row["answer"] is not None)
    if len(kept) < len(rows):
        print(f"[data] dropped {len(rows) - len(kept)} of {len(rows)} rows with no '####' answer")
    if tokenizer is not None and max_prompt_tokens is not None:
        kept = drop_long_prompts(kept, tokenizer, max_prompt_tokens)
    return kept


def load(source: str, split: str, system_prompt: str, tokenizer=None, max_prompt_tokens: int | None = None,
         config: str | None = "main") -> Dataset:
    """A GSM8K split ready for GRPOTrainer: `prompt` messages and the gold `answer`."""
    return build_prompts(load_split(source, split, config), system_prompt, tokenizer, max_prompt_tokens)
