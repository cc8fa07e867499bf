"""A recipe trained in stages (a curriculum): each stage a GRPO run of its own in <output_dir>/stage-N, its row of the
recipe's table as defaults under the user's flags, starting from the previous stage's LoRA adapter (with --use_peft
false, from its whole model); a stopped run resumes at the stage it stopped in."""

import os
from dataclasses import dataclass, fields, replace

from peft import set_peft_model_state_dict
from peft.utils import load_peft_weights
from trl import GRPOConfig

from recipes.common.args import RecipeArguments, parse_again
from recipes.common.checkpoints import NO_RESUME, RESUME_LAST, WEIGHTS, check_output_dir, resume_checkpoint
from recipes.common.model import adapter_settings
from recipes.common.start import SHARDED
from recipes.errors import RecipeError


@dataclass
class Stage:
    """One stage as this run trains it: the stage's settings under the user's flags."""
    number: int
    args: RecipeArguments
    training_args: GRPOConfig
    extra: object  # the recipe's own arguments, with the stage's values where the user gave none

    @property
    def saved(self) -> str:
        """The folder `train` saves this stage's result in: its LoRA adapter, or (--use_peft false) its model."""
        return os.path.join(self.training_args.output_dir, "adapter" if self.args.use_peft else "model")

    @property
    def previous_saved(self) -> str:
        return os.path.join(os.path.dirname(self.training_args.output_dir), f"stage-{self.number - 1}",
                            os.path.basename(self.saved))

    @property
    def what(self) -> str:
        return "adapter" if self.args.use_peft else "model"


def is_saved(folder: str, use_peft: bool) -> bool:
    """Whether `folder` holds a saved LoRA adapter (its config, written after the weights), or a saved model (its
    weights, or their index, written after the shards)."""
    names = ["adapter_config.json"] if use_peft else [n for n in WEIGHTS if n.startswith(("model", "pytorch_model"))]
    return any(os.path.isfile(os.path.join(folder, name)) for name in names)


def stage_settings(number: int, table: dict, defaults: dict, args: RecipeArguments, extra) -> Stage:
    """Stage `number`'s row of `table` as defaults under the command line (flags and --config keys still win): its
    GRPOConfig fields over the recipe's `defaults`, its other keys (fields of the recipe's own arguments, `extra`)
    where the user gave none; its output goes to <output_dir>/stage-N."""
    row = table[number]
    own = {f.name for f in fields(extra)}
    config = {key: value for key, value in row.items() if key not in own}
    stage_args, training_args, _ = parse_again(args, {**defaults, **config})
    training_args.output_dir = os.path.join(training_args.output_dir, f"stage-{number}")
    chosen = {key: value for key, value in row.items() if key in own and getattr(extra, key) is None}
    return Stage(number, stage_args, training_args, replace(extra, **chosen))


def stages_to_train(stages: list[Stage], table: dict) -> list[Stage]:
    """A new run needs its folders free: the whole output folder when it starts at stage 1, else its first stage's
    and the later stages' (trained from an adapter it replaces). With several stages, `--resume_from_checkpoint
    last` skips the stages that saved their adapter, continues the next one from its last checkpoint (if it has one)
    and starts the others afresh."""
    first = stages[0]
    wanted = str(first.training_args.resume_from_checkpoint).lower()
    if len(stages) > 1 and wanted not in NO_RESUME + RESUME_LAST:
        raise RecipeError("a checkpoint folder resumes one stage: add --stage N")
    root = os.path.dirname(first.training_args.output_dir)
    free = [root] if first.number == 1 else [os.path.join(root, f"stage-{n}") for n in table if n >= first.number]
    for folder in free:
        check_output_dir(first.training_args, folder)
    if len(stages) == 1 or wanted in NO_RESUME:
        return stages
    left = [s for s in stages if not is_saved(s.saved, s.args.use_peft)]
    for stage in left:
        try:
            resume_checkpoint(stage.training_args)
        except RecipeError:  # nothing saved yet
            stage.training_args.resume_from_checkpoint = None
    return left


def check_stages(stages: list[Stage]) -> None:
    """What the stages need before the model loads: one stage a launch when the model is sharded, and the adapter
    (or model) of the stage before the first."""
    if SHARDED and len(stages) > 1:
        # the next stage would load its adapter into, and add a reference adapter to, an already sharded model
        raise RecipeError("with FSDP2 or ZeRO-3, a launch trains one stage: run --stage 1, then --stage 2, then "
                          "--stage 3 (or use DDP, which trains all three in one launch)")
    first = stages[0]
    previous = first.previous_saved
    if first.number > 1 and not is_saved(previous, first.args.use_peft):
        raise RecipeError(f"stage {first.number} starts from stage {first.number - 1}'s {first.what}, and there is "
                          f"none at {previous}: train stage {first.number - 1} first")
    resume_checkpoint(first.training_args)  # a `last` without a checkpoint fails here, before the model loads


def start_from(model, adapter: str, args: RecipeArguments) -> None:
    """The previous stage's LoRA weights, loaded into this run's fresh LoRA."""
    saved = adapter_settings(adapter)
    if (saved["lora_r"], saved["lora_target_modules"]) != (args.lora_r, sorted(args.lora_target_modules)):
        raise RecipeError(f"the adapter at {adapter} has LoRA rank {saved['lora_r']} on "
                          f"{','.join(saved['lora_target_modules'])}: pass the same --lora_r and --lora_target_modules")
    set_peft_model_state_dict(model, load_peft_weights(adapter))
    print(f"[train] starting from {adapter}")
