"""Helpers for any task's chat prompts: their length in tokens, and dropping those too long for the recipe."""

from datasets import Dataset

from recipes.errors import RecipeError


def drop_long_prompts(rows: Dataset, tokenizer, max_prompt_tokens: int, source: str | None = None) -> Dataset:
    """Rows whose chat prompt fits in `max_prompt_tokens`; the count dropped is printed. `source` names the rows in
    the error raised when none fits."""
    kept = rows.filter(lambda row: prompt_tokens(tokenizer, row["prompt"]) <= max_prompt_tokens)
    if len(kept) < len(rows):
        print(f"[data] dropped {len(rows) - len(kept)} of {len(rows)} prompts longer than {max_prompt_tokens} tokens")
    if len(rows) and not len(kept):
        where = f"{source}: " if source else ""
        raise RecipeError(f"{where}no usable rows ({len(rows)} dropped: prompts longer than {max_prompt_tokens} "
                          "tokens): raise --max_prompt_tokens")
    return kept


def prompt_tokens(tokenizer, messages) -> int:
    """Length of a prompt as the model sees it: a text prompt as it is, chat messages through the chat template with
    the generation prompt (or continuing a final, pre-filled assistant message)."""
    if isinstance(messages, str):
        return len(tokenizer(messages, add_special_tokens=False)["input_ids"])
    prefilled = messages[-1]["role"] == "assistant"
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=not prefilled,
                                        continue_final_message=prefilled, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return len(ids)
