"""A run's folder: refused when it holds another run, resumed from its newest complete checkpoint."""

import json
import os

from transformers.trainer_utils import sort_checkpoints
from trl import GRPOConfig

from recipes.errors import RecipeError

RESUME_LAST = ("last", "latest", "true", "yes")  # --resume_from_checkpoint values that take the newest checkpoint


NO_RESUME = ("", "none", "false", "no")


# What transformers' Trainer can load a checkpoint's weights from: a model's or a LoRA's files, FSDP's sharded
# folders, DeepSpeed's global_step folders.
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
           "pytorch_model.bin", "pytorch_model.bin.index.json")


SHARDED_WEIGHTS = ("pytorch_model_fsdp", "global_step")


def check_output_dir(training_args: GRPOConfig, folder: str | None = None) -> None:
    """A new run needs a folder of its own: one that already holds files (an earlier run's checkpoints, adapter,
    evaluations) is refused, so that earlier work is never overwritten and two runs never mix in one folder. A run
    resumed from a checkpoint of its folder goes on in it. `folder`: what to check, for a recipe that lays out its
    output itself (default: --output_dir)."""
    folder = folder or training_args.output_dir
    wanted = str(training_args.resume_from_checkpoint or "")
    if wanted.lower() in RESUME_LAST or (wanted.lower() not in NO_RESUME and os.path.abspath(
            os.path.dirname(os.path.normpath(wanted))) == os.path.abspath(training_args.output_dir)):
        return
    if os.path.isdir(folder) and os.listdir(folder):
        raise RecipeError(f"{folder} already holds a run: continue it with --resume_from_checkpoint last, or start a "
                          "new run with another --output_dir")


def checkpoint_problem(path: str) -> str | None:
    """What a checkpoint folder lacks to be resumed from, or None: the trainer's state (saved last, after the
    weights, optimizer and scheduler, so a save cut short has none) and the model's or adapter's weights."""
    try:
        with open(os.path.join(path, "trainer_state.json")) as f:
            json.load(f)
    except FileNotFoundError:
        return "no trainer_state.json"
    except (OSError, ValueError):
        return "trainer_state.json is cut short"
    if not any(name in WEIGHTS or name.startswith(SHARDED_WEIGHTS) for name in os.listdir(path)):
        return "no model or adapter weights"
    return None


def newest_checkpoint(folder: str) -> tuple[str | None, list[str]]:
    """The complete checkpoint-N in `folder` with the highest step N, and the newer ones passed over, each with what
    it lacks (what a kill during a save leaves)."""
    passed = []
    for path in reversed(sort_checkpoints(folder)):  # by step number: checkpoint-10 after checkpoint-9
        problem = checkpoint_problem(path)
        if problem is None:
            return path, passed
        passed.append(f"{path} ({problem})")
    return None, passed


def resume_checkpoint(training_args: GRPOConfig) -> str | None:
    """The checkpoint this run continues from: none for a new run; for `--resume_from_checkpoint last` (or `true`)
    the newest complete one in the output folder, saying which incomplete ones it passed over; else the folder given.
    `last` is settled once: the evaluation and the training that ask next get the same checkpoint."""
    wanted = training_args.resume_from_checkpoint
    if wanted is None or str(wanted).lower() in NO_RESUME:
        return None
    if str(wanted).lower() not in RESUME_LAST:
        if not os.path.isdir(wanted):
            raise RecipeError(f"no checkpoint folder at {wanted}")
        if problem := checkpoint_problem(wanted):
            raise RecipeError(f"cannot resume from {wanted}: {problem}")
        return wanted
    out = training_args.output_dir
    last, passed = newest_checkpoint(out) if os.path.isdir(out) else (None, [])
    for checkpoint in passed:
        print(f"[train] passing over the incomplete {checkpoint}")
    if last is None:
        way_on = ("leave out --resume_from_checkpoint to start a new run" if not os.path.isdir(out) or not
                  os.listdir(out) else "start a new run with another --output_dir")
        complete = "complete " if passed else ""
        raise RecipeError(f"no {complete}checkpoint to resume from in {out}: {way_on}")
    training_args.resume_from_checkpoint = last
    return last
