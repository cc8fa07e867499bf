"""A recipe's command line, with TRL's own argument classes and names: `ModelConfig` (`--model_name_or_path`,
`--use_peft`, `--lora_r`, `--load_in_4bit`...), `ScriptArguments` (`--dataset_name`...) for a recipe that reads a
dataset, `GRPOConfig`, the few arguments TRL lacks and the recipe's own, as flags (`--learning_rate 1e-5`) or YAML keys
(`--config run.yaml`), over the recipe's defaults; and `run`, a recipe's `__main__`."""

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from trl import GRPOConfig, ModelConfig, ScriptArguments, TrlParser

from recipes.common.start import DISTRIBUTED, ENGINE, HAS_CUDA, HAS_VLLM, IS_MAIN_PROCESS, TRL_VLLM, USE_UNSLOTH
from recipes.errors import RecipeError

LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# TRL's ModelConfig with the defaults of a GRPO recipe: a LoRA on a 4-bit base, as Unsloth's notebooks train.
MODEL_DEFAULTS = dict(
    use_peft=True, load_in_4bit=True, lora_r=32, lora_alpha=64, lora_target_modules=LORA_MODULES,
    lora_dropout=0.0,  # Unsloth's fast LoRA kernels take none
)


@dataclass
class RecipeArguments(ModelConfig):
    """TRL's ModelConfig and the arguments TRL has no name for."""
    dtype: str | None = field(default=None, metadata={
        "help": "Load the model in this dtype; default: bfloat16 on a CUDA GPU (Unsloth: its own pick), float32 on a "
                "CPU.", "choices": ["auto", "bfloat16", "float16", "float32"]})
    max_seq_length: int = field(default=1024, metadata={"help": "Longest prompt + completion, in tokens."})
    max_prompt_tokens: int = field(default=256, metadata={"help": "Longer prompts are dropped from the data."})
    lora_random_state: int = field(default=3407, metadata={"help": "Seed of the LoRA weights' initialisation."})
    skip_eval: bool = field(default=False, metadata={"help": "Skip the before/after evaluation."})
    eval_limit: int | None = field(default=None, metadata={"help": "Evaluate on the first N questions only."})
    eval_batch_size: int = 64
    save_merged: bool = field(default=False, metadata={"help": "Also save the model merged into 16-bit weights."})
    vllm_max_num_seqs: int | None = field(default=None, metadata={
        "help": "Unsloth's vLLM: the most completions it generates at once; default: the recipe's (B: all 98 of a "
                "step), else Unsloth's pick from the memory left for vLLM's cache (32 to 48 on a 24 GB card at the "
                "recipes' shares). TRL's own vLLM takes the generation batch (per_device_train_batch_size x "
                "steps_per_generation)."})

    def __post_init__(self):
        if self.load_in_8bit and self.load_in_4bit:
            raise RecipeError("--load_in_8bit: add --load_in_4bit false (4-bit is the recipes' default)")
        super().__post_init__()
        # TRL turns one --lora_target_modules value into a string, which PEFT reads as a pattern that the whole module
        # path must match: `q_proj` would then match no module. One name is a module name, as in a list of several.
        if isinstance(self.lora_target_modules, str) and self.lora_target_modules != "all-linear":
            self.lora_target_modules = [self.lora_target_modules]
        if self.vllm_max_num_seqs is not None and self.vllm_max_num_seqs < 1:
            raise RecipeError(f"--vllm_max_num_seqs must be at least 1, not {self.vllm_max_num_seqs}")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise RecipeError(f"--eval_limit must be at least 1, not {self.eval_limit} (--skip_eval skips the "
                              "evaluation)")


@dataclass
class DatasetRecipeArguments(RecipeArguments, ScriptArguments):
    """A recipe that reads a dataset: TRL's ScriptArguments (`--dataset_name`, `--dataset_config`, the splits) too."""


def reads_dataset(defaults: dict) -> bool:
    """A recipe reads a dataset when its defaults name one (dataset_name); the others make their own data."""
    return "dataset_name" in defaults


def arguments_class(defaults: dict) -> type:
    """The recipe arguments of a recipe: with the --dataset_* flags only if it reads a dataset, so that no recipe
    takes a flag it never reads."""
    return DatasetRecipeArguments if reads_dataset(defaults) else RecipeArguments


DATASET_FIELDS = {f.name for f in fields(ScriptArguments)}
# Flags of earlier versions of these recipes, with TRL's names for them.
RENAMED = {"model": "--model_name_or_path", "full_finetune": "--use_peft false",
           "gpu_memory_utilization": "--vllm_gpu_memory_utilization"}
# ScriptArguments' flags that no recipe reads (the loaders read whole datasets; no DDP buffer workaround is needed),
# with their defaults: refused when set.
NOT_READ = {"dataset_streaming": False, "ignore_bias_buffers": False}


def refuse_renamed(flags: list[str]) -> None:
    """Stop at a flag (or a --config key) that has TRL's name now, saying which."""
    for flag in flags:
        name = flag[2:].split("=")[0] if flag.startswith("--") else None
        if name in RENAMED:
            raise RecipeError(f"--{name} is called {RENAMED[name]} here, as in TRL")


class RecipeParser(TrlParser):
    """TrlParser whose errors are one line: a bad flag value, an unknown flag or key, a --config that does not parse,
    a flag by its former name, a --dataset_* flag to a recipe that reads no dataset. (argparse prints its whole usage,
    about 190 lines here, before the line that matters.)"""

    def error(self, message):
        raise RecipeError(f"{message} (--help lists the flags)")

    def parse(self, argv: list[str] | None = None) -> tuple:
        import yaml

        argv = sys.argv[1:] if argv is None else list(argv)
        refuse_renamed(argv)
        try:
            *parsed, unknown = self.parse_args_and_config(args=argv, return_remaining_strings=True)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{mark.name}, line {mark.line + 1}" if mark else "--config"
            raise RecipeError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
        except OSError as e:  # the --config file
            raise RecipeError(f"cannot read --config {e.filename}: {e.strerror}") from None
        except ValueError as e:  # a YAML that is not a mapping; settings that GRPOConfig's own checks refuse
            raise RecipeError(" ".join(str(e).split())) from None
        refuse_renamed(unknown)  # --config keys
        dataset_flags = [flag for flag in unknown if flag[2:].split("=")[0] in DATASET_FIELDS]
        if dataset_flags:
            raise RecipeError(f"{dataset_flags[0].split('=')[0]}: this recipe reads no dataset (it makes its own data)")
        if unknown:
            self.error(f"unknown flags or --config keys: {' '.join(unknown)}")
        for name, default in NOT_READ.items():
            if any(getattr(p, name, default) != default for p in parsed):
                raise RecipeError(f"--{name}: no recipe reads it")
        return tuple(parsed)


def parse_args(defaults: dict, argv: list[str] | None = None, extra: type | None = None) -> tuple:
    """Recipe arguments (TRL's ModelConfig, with ScriptArguments when the recipe reads a dataset, and ours), every
    GRPOConfig field and the recipe's own (`extra`, a dataclass) as flags (`--learning_rate 1e-5`) or YAML keys
    (`--config f.yaml`), over the recipe's defaults: (args, training_args) or (args, training_args, extra_args).
    Without a CUDA GPU, bf16, 8-bit optimizers and pinned memory are switched off. `parse_again` reads the same
    command line over other defaults."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = RecipeParser((arguments_class(defaults), GRPOConfig, *([extra] if extra else [])))
    merged = {**MODEL_DEFAULTS, "use_vllm": HAS_VLLM, "report_to": "none", **defaults}
    if not USE_UNSLOTH:  # settings of Unsloth's GRPOConfig (unsloth_grpo_mini_batch, ...): plain TRL has none
        merged = {k: v for k, v in merged.items() if not k.startswith("unsloth_")}
    if ENGINE == "trl":  # the recipes' vLLM shares are sized beside a 4-bit model; beside plain TRL's bf16 one A's 0.5
        merged.pop("vllm_gpu_memory_utilization", None)  # ran out of memory on 24 GB: TRL's own default (0.3) instead
    if not HAS_CUDA:  # bf16 and paged 8-bit Adam need a GPU; pinned memory speeds copies to one
        merged.update(bf16=False, optim="adamw_torch", dataloader_pin_memory=False)
    if DISTRIBUTED:
        merged.update(load_in_4bit=False)  # accelerate shards or copies the bf16 weights
    if "epsilon_high" not in merged and given(argv, "epsilon_high") is None:
        # TRL's meaning of no --epsilon_high, written out: the clip is symmetric. With loss_type "dapo" Unsloth's
        # GRPOConfig would otherwise set 0.28 by itself (the DAPO paper's), and a run on a GPU would clip otherwise
        # than the same run on the CPU.
        epsilon = given(argv, "epsilon")
        merged["epsilon_high"] = epsilon if epsilon is not None else merged.get("epsilon", GRPO_EPSILON)
    parser.set_defaults(**merged)
    parsed = parser.parse(argv)
    args, training_args = parsed[:2]
    args.command_line = (argv, extra)  # not a flag: what parse_again reads
    if not args.use_peft:
        args.load_in_4bit = False
        if USE_UNSLOTH:
            raise RecipeError("--use_peft false needs GRPO_ENGINE=trl: the Unsloth path trains a LoRA")
        if args.save_merged:
            raise RecipeError("--save_merged merges a LoRA: a --use_peft false run saves the whole model already")
    if USE_UNSLOTH:
        check_unsloth_settings(args)
    if DISTRIBUTED and args.load_in_4bit:
        raise RecipeError("--load_in_4bit is for one GPU: under accelerate (several GPUs, FSDP2, ZeRO-3) the "
                          "recipes train the bf16 weights")
    if training_args.use_vllm and not (HAS_VLLM or TRL_VLLM):
        raise RecipeError("--use_vllm needs a CUDA GPU and the vllm package (pip install -r requirements.txt)")
    if args.vllm_max_num_seqs is not None and not (USE_UNSLOTH and training_args.use_vllm):
        if given(argv, "vllm_max_num_seqs") is None:  # a recipe's default, for its Unsloth vLLM runs only
            args.vllm_max_num_seqs = None
        else:
            raise RecipeError("--vllm_max_num_seqs is for Unsloth's vLLM generation (--use_vllm on a GPU): " + (
                "TRL's own vLLM generates the generation batch at once" if ENGINE == "trl" and training_args.use_vllm
                else "this run generates with Hugging Face generate"))
    if training_args.use_vllm and TRL_VLLM and args.load_in_4bit:
        raise RecipeError("TRL's vLLM generation takes 16-bit weights: add --load_in_4bit false")
    return parsed


# ModelConfig settings that Unsloth's loader does not take, each with the one value it has: its 4-bit is always NF4
# (nested, whatever --use_bnb_nested_quant says), it picks the attention kernel itself, and its LoRA has no DoRA.
UNSLOTH_FIXED = {"use_dora": False, "lora_task_type": "CAUSAL_LM", "bnb_4bit_quant_type": "nf4",
                 "bnb_4bit_quant_storage": None, "attn_implementation": None}


def check_unsloth_settings(args: RecipeArguments) -> None:
    """A setting that the Unsloth path would silently drop is refused, in one line."""
    changed = [name for name, value in UNSLOTH_FIXED.items() if getattr(args, name) != value]
    if changed:
        flags = ", ".join(f"--{name} {getattr(args, name)}" for name in changed)
        raise RecipeError(f"{flags}: not on the Unsloth path (its loader has no such setting); GRPO_ENGINE=trl "
                          "takes it")


GRPO_EPSILON = next(f.default for f in fields(GRPOConfig) if f.name == "epsilon")


def given(argv: list[str], name: str) -> float | None:
    """The number a flag (`--name 0.3`, `--name=0.3`) or a --config key gives a GRPOConfig field, or None: where it is
    missing or not a number (the parser then says so in one line)."""
    import yaml

    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--config")
    early.add_argument(f"--{name}")
    known, _ = early.parse_known_args(argv)
    value = getattr(known, name)
    if value is None and known.config:
        try:
            with open(known.config) as f:
                config = yaml.safe_load(f)
            value = config.get(name) if isinstance(config, dict) else None
        except (OSError, yaml.YAMLError):
            return None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def parse_again(args: RecipeArguments, defaults: dict) -> tuple:
    """The command line (and --config file) that `args` came from, over other defaults: for settings that change
    from one stage of a recipe to the next, while a flag or a --config key the user gave still wins in every stage."""
    argv, extra = args.command_line
    return parse_args(defaults, argv, extra)


def one_line_errors(main: Callable, *args):
    """`main(*args)`, where a problem with the user's input (a RecipeError) ends the program with one line, not a
    traceback. Any other error is a bug, in the recipe or in a user's own code (a reward function): its traceback
    shows."""
    try:
        result = main(*args)
    except RecipeError as e:
        stop(f"error: {e}")
    except (ValueError, NotImplementedError) as e:
        if not refused_by_trainer(e):
            raise
        stop(f"error: GRPOTrainer: {' '.join(str(e).split())}")
    except KeyboardInterrupt:  # outside training (loading, evaluating): nothing to save
        print("stopped by Ctrl-C", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
    if DISTRIBUTED and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # else the processes may abort on the way out
    return result


def stop(message: str):
    """End the program with `message`. The processes of a launch share one terminal, and the first one's progress bar
    may be half drawn when another stops: there the message is one write that starts on a line of its own."""
    if DISTRIBUTED and not IS_MAIN_PROCESS:
        os.write(sys.stderr.fileno(), f"\n{message}\n".encode())
        raise SystemExit(1) from None
    raise SystemExit(message) from None


def refused_by_trainer(error: Exception) -> bool:
    """Whether TRL's GRPOTrainer refused the run's settings as it was built (e.g. `--reward_weights` that do not match
    the rewards, `--sync_ref_model` with `--beta 0`): raised in the trainer's own `__init__`, in TRL's file or in
    Unsloth's compiled copy of it. An error raised anywhere else is a bug and keeps its traceback."""
    frame = error.__traceback__
    while frame and frame.tb_next:
        frame = frame.tb_next
    if frame is None or frame.tb_frame.f_code.co_name != "__init__":
        return False
    path = Path(frame.tb_frame.f_code.co_filename)
    return path.parts[-3:] == ("trl", "trainer", "grpo_trainer.py") or path.name == "UnslothGRPOTrainer.py"


def run(main: Callable, defaults: dict, extra: type | None = None) -> None:
    """The `__main__` of a recipe: parse the command line over its defaults (with its own arguments, `extra`, if it
    has any), run `main(args, training_args[, extra_args])`, and report input errors in one line."""
    one_line_errors(lambda: main(*parse_args(defaults, extra=extra)))
    if DISTRIBUTED:
        # done and saved: a process of a launch ends here, not in the interpreter's exit, where torch's threads have
        # aborted one ("terminate called without an active exception", exit code -6) after its run was complete
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)
