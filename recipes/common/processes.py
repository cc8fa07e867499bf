"""Several processes (`accelerate launch`): the evaluation's prompts split between them and the completions gathered
back (accelerate's own utilities), and files written by the first process only."""

import contextlib
import json
import os

from accelerate import PartialState
from accelerate.utils import gather_object

from recipes.common.generation import generate
from recipes.common.start import DISTRIBUTED, IS_MAIN_PROCESS, NUM_PROCESSES, USES_DEEPSPEED


def generate_shared(model, tokenizer, prompts: list, max_new_tokens: int, batch_size: int,
                    lora_path: str | None = None, desc: str = "eval") -> tuple[list[str], list[int]]:
    """`generate`, with the prompts split between the processes of a multi-process run and the completions gathered
    back in order on every process. Each process gets as many prompts (the last prompt fills up the last share), so
    that under FSDP2 and ZeRO-3, where every forward pass is a collective operation, all run as many batches."""
    if not DISTRIBUTED:
        return generate(model, tokenizer, prompts, max_new_tokens, batch_size, lora_path, desc)
    prompts = list(prompts)
    with PartialState().split_between_processes(prompts, apply_padding=True) as share, _whole_weights(model):
        texts, lengths = generate(model, tokenizer, share, max_new_tokens, batch_size, lora_path, desc)
    gathered = gather_object(list(zip(texts, lengths)))[:len(prompts)]
    return [text for text, _ in gathered], [n for _, n in gathered]


def gather(value) -> list:
    """`value` from every process of a multi-process run, in process order."""
    return gather_object([value]) if NUM_PROCESSES > 1 else [value]


def _whole_weights(model):
    """ZeRO-3 keeps a slice of each weight on each GPU: gather them for generation (as TRL does), or the model cannot
    run before training. FSDP2 gathers its shards itself, layer by layer."""
    if not USES_DEEPSPEED:
        return contextlib.nullcontext()
    import deepspeed
    return deepspeed.zero.GatheredParameters(list(model.parameters()))


def write_json(path: str, data) -> None:
    """`data` as JSON at `path`, written by the first process only."""
    if not IS_MAIN_PROCESS:
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
