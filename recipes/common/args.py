"""A recipe's command line: the shared recipe arguments and every GRPOConfig field as flags (`--learning_rate 1e-5`)
or YAML keys (`--config run.yaml`), over the recipe's defaults; and `run`, a recipe's `__main__`."""

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from trl import GRPOConfig, TrlParser

from recipes.common.start import DISTRIBUTED, HAS_CUDA, HAS_VLLM, TRL_VLLM, USE_UNSLOTH
from recipes.errors import RecipeError

LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class RecipeArguments:
    model: str = field(default="", metadata={"help": "Hub id or local folder of the model to train."})
    dataset_name: str = field(default="", metadata={"help": "Hub id, a folder of <split>.jsonl files, or one file."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_train_split: str = "train"
    dataset_test_split: str = "test"
    max_seq_length: int = field(default=1024, metadata={"help": "Longest prompt + completion, in tokens."})
    max_prompt_tokens: int = field(default=256, metadata={"help": "Longer prompts are dropped from the data."})
    load_in_4bit: bool = True
    full_finetune: bool = field(default=False, metadata={
        "help": "Train every weight (bf16 on a GPU, no 4-bit) instead of a LoRA: GRPO_ENGINE=trl or accelerate."})
    lora_r: int = 32
    lora_alpha: int = 64
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_MODULES))
    lora_random_state: int = field(default=3407, metadata={"help": "Seed of the LoRA weights' initialisation."})
    gpu_memory_utilization: float = field(default=0.8, metadata={"help": "Share of GPU memory vLLM may take."})
    skip_eval: bool = field(default=False, metadata={"help": "Skip the before/after evaluation."})
    eval_limit: int | None = field(default=None, metadata={"help": "Evaluate on the first N questions only."})
    eval_batch_size: int = 64
    save_merged: bool = field(default=False, metadata={"help": "Also save the model merged into 16-bit weights."})

    def __post_init__(self):
        if self.eval_limit is not None and self.eval_limit < 1:
            raise RecipeError(f"--eval_limit must be at least 1, not {self.eval_limit} (--skip_eval skips the "
                              "evaluation)")


class RecipeParser(TrlParser):
    """TrlParser whose errors are one line: a bad flag value, an unknown flag or key, a --config that does not parse.
    (argparse prints its whole usage, about 190 lines here, before the line that matters.)"""

    def error(self, message):
        raise RecipeError(f"{message} (--help lists the flags)")

    def parse(self, argv: list[str] | None = None) -> tuple:
        import yaml

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
        if unknown:
            self.error(f"unknown flags or --config keys: {' '.join(unknown)}")
        return tuple(parsed)


def parse_args(defaults: dict, argv: list[str] | None = None, extra: type | None = None) -> tuple:
    """Recipe arguments, every GRPOConfig field and the recipe's own (`extra`, a dataclass) as flags
    (`--learning_rate 1e-5`) or YAML keys (`--config f.yaml`), over the recipe's defaults: (args, training_args) or
    (args, training_args, extra_args). Without a CUDA GPU, bf16, 8-bit optimizers and pinned memory are switched off.
    `parse_again` reads the same command line over other defaults."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = RecipeParser((RecipeArguments, GRPOConfig, *([extra] if extra else [])))
    merged = {"use_vllm": HAS_VLLM, "report_to": "none", **defaults}
    if not USE_UNSLOTH:  # settings of Unsloth's GRPOConfig (unsloth_grpo_mini_batch, ...): plain TRL has none
        merged = {k: v for k, v in merged.items() if not k.startswith("unsloth_")}
    if not HAS_CUDA:  # bf16 and paged 8-bit Adam need a GPU; pinned memory speeds copies to one
        merged.update(bf16=False, optim="adamw_torch", dataloader_pin_memory=False)
    if DISTRIBUTED:
        merged.update(load_in_4bit=False)  # accelerate shards or copies the bf16 weights
    parser.set_defaults(**merged)
    parsed = parser.parse(argv)
    args, training_args = parsed[:2]
    args.command_line = (argv, extra)  # not a flag: what parse_again reads
    if args.full_finetune:
        args.load_in_4bit = False
        if USE_UNSLOTH:
            raise RecipeError("--full_finetune needs GRPO_ENGINE=trl: the Unsloth path trains a LoRA")
        if args.save_merged:
            raise RecipeError("--save_merged merges a LoRA: a --full_finetune run saves the whole model already")
    if DISTRIBUTED and args.load_in_4bit:
        raise RecipeError("--load_in_4bit is for one GPU: under accelerate (several GPUs, FSDP2, ZeRO-3) the "
                          "recipes train the bf16 weights")
    if training_args.use_vllm and not (HAS_VLLM or TRL_VLLM):
        raise RecipeError("--use_vllm needs a CUDA GPU and the vllm package (pip install -r requirements.txt)")
    if training_args.use_vllm and TRL_VLLM and args.load_in_4bit:
        raise RecipeError("TRL's vLLM generation takes 16-bit weights: add --load_in_4bit false")
    return parsed


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
        raise SystemExit(f"error: {e}") from None
    except KeyboardInterrupt:  # outside training (loading, evaluating): nothing to save
        print("stopped by Ctrl-C", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
    if DISTRIBUTED and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # else the processes may abort on the way out
    return result


def run(main: Callable, defaults: dict, extra: type | None = None) -> None:
    """The `__main__` of a recipe: parse the command line over its defaults (with its own arguments, `extra`, if it
    has any), run `main(args, training_args[, extra_args])`, and report input errors in one line."""
    one_line_errors(lambda: main(*parse_args(defaults, extra=extra)))
