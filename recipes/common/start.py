"""Process start-up, before any other library loads: which process of a launch this is, which engine trains (Unsloth
on a CUDA GPU, else transformers + PEFT: `GRPO_ENGINE=trl` picks the latter on a GPU too), and Unsloth imported
before trl and transformers, which it patches. Every module of recipes.common imports this one first (through the
package), so a recipe's first import runs it.

Under `accelerate launch` with several processes (recipes/tools/launch.py, `make <recipe> GPUS=N`) the engine is
plain TRL: each process loads the bf16 model onto its own GPU and accelerate shards it (FSDP2, DeepSpeed ZeRO-3) or
copies it (DDP); only the first process prints.
"""

import importlib.util
import logging
import os
import sys

# Start-up messages that look like a broken install but are harmless to the recipes: (logger, words of the message).
# Dropped by their loggers before the libraries load; any other message of those loggers still shows.
KNOWN_NOISE = [
    # torchao's CUDA kernels (mxfp8, CUTLASS) load only on the torch version they were built for; the recipes' 4-bit
    # models run on bitsandbytes and never call them
    ("torchao", ("Failed to load ", "torchao", ".so")),
    # torch 2.13 on torchao's own Enum registrations: a change for torchao to make, nothing a run does differently
    ("torch.utils._pytree", ("Calling register_constant() on Enum subclasses is deprecated",)),
    # bitsandbytes would fetch a faster CPU kernel from the hub (the `kernels` package); its own CPU kernel runs instead
    ("bitsandbytes.backends.cpu.ops", ("Failed to load CPU gemm_4bit_forward from kernels-community",)),
]
for _logger, _words in KNOWN_NOISE:
    logging.getLogger(_logger).addFilter(
        lambda record, words=_words: not all(word in record.getMessage() for word in words))

# Set by `accelerate launch` (torchrun) in each process of a multi-process run.
NUM_PROCESSES = int(os.environ.get("WORLD_SIZE", "1"))
LOCAL_RANK = int(os.environ.get("LOCAL_RANK", "0"))
RANK = int(os.environ.get("RANK", "0"))
IS_MAIN_PROCESS = RANK == 0
USES_DEEPSPEED = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
SHARDED = USES_DEEPSPEED or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
DISTRIBUTED = NUM_PROCESSES > 1 or SHARDED  # under accelerate: sharded, or on several processes
if not IS_MAIN_PROCESS:  # one copy of the output, the first process's (set before tqdm loads; errors still show)
    os.environ["TQDM_DISABLE"] = "1"
    sys.stdout = open(os.devnull, "w")

import torch  # noqa: E402

HAS_CUDA = torch.cuda.is_available()

ENGINES = ("unsloth", "trl")
ENGINE = os.environ.get("GRPO_ENGINE", "trl" if DISTRIBUTED else "unsloth")
if ENGINE not in ENGINES:
    raise SystemExit(f"error: GRPO_ENGINE={ENGINE!r} is not one of {', '.join(ENGINES)}")
if ENGINE == "unsloth" and DISTRIBUTED and HAS_CUDA:
    raise SystemExit("error: Unsloth trains on one GPU without accelerate: launch with GRPO_ENGINE=trl")
USE_UNSLOTH = HAS_CUDA and ENGINE == "unsloth"  # Unsloth needs CUDA: without it, transformers + PEFT
if USE_UNSLOTH:
    # Unsloth's torch.compile of the training step: measured on an H100 (README, "GPU measurements") it made the 0.5B
    # recipe's first step take 321 s instead of 24 s, and the 1.5B one had not finished its first step after 11
    # minutes (33 s without), for at most a few seconds a step later. UNSLOTH_COMPILE_DISABLE=0 turns it back on.
    os.environ.setdefault("UNSLOTH_COMPILE_DISABLE", "1")
    import unsloth  # noqa: F401  (before trl and transformers: Unsloth patches them on import)

VLLM_INSTALLED = importlib.util.find_spec("vllm") is not None
HAS_VLLM = USE_UNSLOTH and VLLM_INSTALLED  # generation through Unsloth's vLLM
TRL_VLLM = ENGINE == "trl" and HAS_CUDA and VLLM_INSTALLED  # TRL's own vLLM: a `trl vllm-serve` server or colocated
