"""Greedy generation for evaluation: through vLLM when the model has an engine (Unsloth's `fast_inference`), else
batched Hugging Face generation."""

import torch
from tqdm.auto import tqdm

from recipes.common.start import USE_UNSLOTH


def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int,
             lora_path: str | None = None, desc: str = "eval") -> tuple[list[str], list[int]]:
    """Greedy completions of chat prompts and their lengths in tokens: through vLLM when the model has an engine
    (Unsloth's `fast_inference`), else batched Hugging Face generation. A prompt that ends with an assistant message
    continues that message (a pre-filled "<think>"); a prompt given as text is used as it is."""
    from trl.data_utils import maybe_apply_chat_template

    texts = [maybe_apply_chat_template({"prompt": p}, tokenizer)["prompt"] for p in prompts]
    if getattr(model, "vllm_engine", None) is not None:
        from vllm import SamplingParams
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        lora = model.load_lora(lora_path) if lora_path else None
        outputs = model.fast_generate(texts, sampling_params=params, lora_request=lora)
        return [o.outputs[0].text for o in outputs], [len(o.outputs[0].token_ids) for o in outputs]
    return _hf_generate(model, tokenizer, texts, max_new_tokens, batch_size, desc)


def _hf_generate(model, tokenizer, texts, max_new_tokens, batch_size, desc):
    if USE_UNSLOTH:
        from unsloth import FastLanguageModel
        FastLanguageModel.for_inference(model)
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    completions, lengths = [], []
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            for row in out[:, batch["input_ids"].shape[1]:]:
                ids = [t for t in row.tolist() if t != tokenizer.pad_token_id]
                completions.append(tokenizer.decode(ids, skip_special_tokens=True))
                lengths.append(len(ids))
    finally:
        tokenizer.padding_side = side
        if USE_UNSLOTH:
            FastLanguageModel.for_training(model)
        model.train()
    return completions, lengths
