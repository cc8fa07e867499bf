"""Evaluate a model, or a model plus a trained LoRA adapter, the way a recipe does: its system prompt, its answer
rules, its evaluation sets (`load_eval_sets`), greedy decoding. Writes a JSON result (every completion included), as
the recipe's own eval_before.json and eval_after.json are written.

    make eval RECIPE=gsm8k_0_5b ADAPTER=outputs/gsm8k-0.5b/adapter
    python -m recipes.tools.evaluate --recipe gsm8k_1_5b --model_name_or_path Qwen/Qwen2.5-1.5B-Instruct \
        --eval_limit 100
    python -m recipes.tools.evaluate --recipe knights_knaves_7b --adapter outputs/kk-7b/stage-3/adapter
"""

import os
from dataclasses import dataclass, field, fields

from recipes.common.args import MODEL_DEFAULTS, RecipeParser, arguments_class, one_line_errors  # first: Unsloth
from recipes.common.model import adapter_settings, load_model
from recipes.common.evaluation import evaluate_sets, limited
from recipes.common.start import HAS_CUDA, HAS_VLLM
from peft import set_peft_model_state_dict  # noqa: E402
from peft.utils import load_peft_weights  # noqa: E402
from trl import GRPOConfig  # noqa: E402

from recipes.tools.catalog import load_recipe, recipe_names


@dataclass
class EvalArguments:
    recipe: str = field(default="gsm8k_0_5b", metadata={"help": "Whose rules to use.", "choices": recipe_names()})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter folder saved by a recipe."})
    output: str | None = field(default=None, metadata={"help": "Result file (default: beside the adapter, or "
                                                                "outputs/eval-<recipe>.json)."})
    max_new_tokens: int | None = field(default=None, metadata={"help": "Default: the recipe's completion limit."})


def parse(argv: list[str] | None = None):
    """The recipe, these arguments, the shared recipe arguments and the recipe's own (its ExtraArguments, if it has
    any), over the recipe's defaults and the adapter's settings."""
    known, _ = RecipeParser(EvalArguments, add_help=False).parse_known_args(argv)
    recipe = load_recipe(known.recipe)
    arguments = arguments_class(recipe.DEFAULTS)
    recipe_fields = {f.name for f in fields(arguments)}
    defaults = {**MODEL_DEFAULTS, **{k: v for k, v in recipe.DEFAULTS.items() if k in recipe_fields}}
    last_stage = list(getattr(recipe, "STAGES", {None: {}}).values())[-1]  # a staged recipe: as its last stage
    defaults["max_new_tokens"] = {**recipe.DEFAULTS, **last_stage}.get("max_completion_length")
    adapter = adapter_settings(known.adapter) if known.adapter else {}  # the adapter's base model and LoRA shape
    defaults.update(adapter)
    extra = getattr(recipe, "ExtraArguments", None)
    parser = RecipeParser((EvalArguments, arguments, *([extra] if extra else [])))
    parser.set_defaults(**defaults)
    eval_args, args, *extra_args = parser.parse(argv)
    if extra_args and hasattr(recipe, "defaults_for"):  # defaults that the recipe's own flags change (--chat)
        changed = {k: v for k, v in recipe.defaults_for(*extra_args).items()
                   if k in recipe_fields and v != recipe.DEFAULTS.get(k)}
        if changed:
            parser.set_defaults(**{**changed, **adapter})
            eval_args, args, *extra_args = parser.parse(argv)
    return recipe, eval_args, args, extra_args


def main(argv: list[str] | None = None) -> dict:
    recipe, eval_args, args, extra_args = parse(argv)
    sets = limited(recipe.load_eval_sets(args, *extra_args), args.eval_limit)
    vllm_share = {k: v for k, v in recipe.DEFAULTS.items() if k == "vllm_gpu_memory_utilization"}  # the recipe's
    model, tokenizer = load_model(args, GRPOConfig(use_vllm=HAS_VLLM, bf16=HAS_CUDA, **vllm_share))
    if eval_args.adapter:
        set_peft_model_state_dict(model, load_peft_weights(eval_args.adapter))
    output = eval_args.output or (os.path.join(os.path.dirname(os.path.abspath(eval_args.adapter)), "eval.json")
                                  if eval_args.adapter else os.path.join("outputs", f"eval-{eval_args.recipe}.json"))
    result = evaluate_sets(output, args.model_name_or_path, sets, model, tokenizer, recipe.TASK,
                           max_new_tokens=eval_args.max_new_tokens, batch_size=args.eval_batch_size,
                           lora_path=eval_args.adapter, desc="eval")
    for name, r in result["sets"].items():
        print(f"{name}: accuracy {r['accuracy']:.2f} %, format compliance {r['format_rate']:.2f} %, "
              f"mean completion {r['mean_completion_tokens']:.1f} tokens ({r['n']} questions)")
    return result


if __name__ == "__main__":
    one_line_errors(main)
