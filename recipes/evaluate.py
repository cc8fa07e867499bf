"""Evaluate a model, or a model plus a trained LoRA adapter, the way a recipe does: its system prompt, its answer
rules, its evaluation questions, greedy decoding. Writes a JSON result (every completion included).

    make eval RECIPE=gsm8k_0_5b ADAPTER=outputs/gsm8k-0.5b/adapter
    python -m recipes.evaluate --recipe gsm8k_1_5b --model Qwen/Qwen2.5-1.5B-Instruct --eval_limit 100
"""

import importlib
import json
import os
from dataclasses import dataclass, field, fields

from recipes.common import (HAS_VLLM, RecipeArguments, RecipeError, RecipeParser,  # first: imports Unsloth
                            evaluate_to_file, load_model, one_line_errors)
from peft import set_peft_model_state_dict  # noqa: E402
from peft.utils import load_peft_weights  # noqa: E402

RECIPES = ("gsm8k_0_5b", "gsm8k_1_5b")


@dataclass
class EvalArguments:
    recipe: str = field(default="gsm8k_0_5b", metadata={"help": "Whose rules to use.", "choices": RECIPES})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter folder saved by a recipe."})
    output: str | None = field(default=None, metadata={"help": "Result file (default: beside the adapter, or "
                                                                "outputs/eval-<recipe>.json)."})
    max_new_tokens: int | None = field(default=None, metadata={"help": "Default: the recipe's completion limit."})


def adapter_settings(adapter: str) -> dict:
    """The base model and LoRA shape an adapter was trained with, from its adapter_config.json."""
    path = os.path.join(adapter, "adapter_config.json")
    if not os.path.isfile(path):
        raise RecipeError(f"no LoRA adapter at {adapter} (expected {path})")
    with open(path) as f:
        config = json.load(f)
    return {"model": config["base_model_name_or_path"], "lora_r": config["r"], "lora_alpha": config["lora_alpha"],
            "lora_target_modules": sorted(config["target_modules"])}


def parse(argv: list[str] | None = None):
    known, _ = RecipeParser(EvalArguments, add_help=False).parse_known_args(argv)
    recipe = importlib.import_module(f"recipes.{known.recipe}")

    recipe_fields = {f.name for f in fields(RecipeArguments)}
    defaults = {k: v for k, v in recipe.DEFAULTS.items() if k in recipe_fields}
    defaults["max_new_tokens"] = recipe.DEFAULTS.get("max_completion_length")
    if known.adapter:
        defaults.update(adapter_settings(known.adapter))
    parser = RecipeParser((EvalArguments, RecipeArguments))
    parser.set_defaults(**defaults)
    eval_args, args = parser.parse(argv)
    return recipe, eval_args, args


def main(argv: list[str] | None = None) -> dict:
    recipe, eval_args, args = parse(argv)
    model, tokenizer = load_model(args, fast_inference=HAS_VLLM)
    if eval_args.adapter:
        set_peft_model_state_dict(model, load_peft_weights(eval_args.adapter))
    _, eval_set = recipe.load_data(args, tokenizer)
    if args.eval_limit is not None:
        eval_set = eval_set.select(range(min(args.eval_limit, len(eval_set))))
    output = eval_args.output or (os.path.join(os.path.dirname(os.path.abspath(eval_args.adapter)), "eval.json")
                                  if eval_args.adapter else os.path.join("outputs", f"eval-{eval_args.recipe}.json"))
    result = evaluate_to_file(output, model, tokenizer, eval_set, recipe.TASK, max_new_tokens=eval_args.max_new_tokens,
                              batch_size=args.eval_batch_size, lora_path=eval_args.adapter, desc="eval")
    print(f"accuracy {result['accuracy']:.2f} %, format compliance {result['format_rate']:.2f} %, "
          f"mean completion {result['mean_completion_tokens']:.1f} tokens ({result['n']} questions)")
    return result


if __name__ == "__main__":
    one_line_errors(main)
