"""Benchmark: each recipe's real GRPO settings for a few steps, on a random-weight model of the recipe's shape,
through the recipe's engine (Unsloth 4-bit LoRA; vLLM generation when installed) and through plain TRL + PEFT bf16
LoRA twice: with TRL's own vLLM generation (`--use_vllm`, colocated: what a TRL user runs, and the speed-up's
baseline) and with Hugging Face generation (the floor), side by side in one run. Writes a markdown table
(BENCHMARKS.md). A staged recipe is benchmarked stage by stage: `knights_knaves_7b:2` is its stage 2.

    make bench                                         # every recipe, capped at 24 GB as on an RTX 3090
    make bench ARGS="--recipes gsm8k_0_5b --steps 5"   # one recipe, more steps
    make bench ARGS="--memory_gb 0"                    # no cap
    make bench ARGS="--recipes gsm8k_1_5b -- --max_completion_length 256"   # after --: flags for the recipes
    python -m recipes.tools.bench --table runs.json                # no GPU: the table from saved runs

Every recipe file is benchmarked (recipes.tools.catalog), on a random model of the shape its default model has
(recipes/tools/random_model.py: "Qwen/Qwen2.5-1.5B-Instruct" is qwen2.5-1.5b); a recipe whose model has no shape
there is benchmarked with --model_name_or_path only.

Seconds per step is the median of the steps after the first (the first one compiles and warms up). The generation
share is the time in the trainer's generation call over the step time; generated tokens per second count every
completion token. Random weights never stop early, so every completion runs to the recipe's length limit: the worst
case. Peak GPU memory is what the device had in use at its highest (CUDA context and vLLM included), sampled every
0.1 s, while loading and while training. Each engine runs in its own process, so Unsloth's patches never reach the
plain TRL run.

The memory cap (recipes/tools/gpu_memory.py) makes a bigger GPU look like a 24 GB one to the whole run: another
process takes the rest of the device before the run starts, and PyTorch's memory queries in the run say the GPU has
24 GB in all. vLLM's `gpu_memory_utilization` and Unsloth's sizing of vLLM (read from the free memory) are then those
of an RTX 3090, and anything past 24 GB fails as it would there.
"""

import argparse
import datetime
import faulthandler
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipes.tools.bench_table import BASELINE, ENGINE_NAMES, summarise, table
from recipes.tools.catalog import load_recipe, recipe_names
from recipes.tools.gpu_memory import MemoryPeak, hold_rest_of_gpu, report_total
from recipes.tools.random_model import shape_of

ROOT = Path(__file__).resolve().parents[2]
# What the benchmark changes in a recipe's settings, and why: Temporal Clue's random-weight answers all run to 4,096
# tokens, so its 64 a step would take about half an hour each step. The benchmark generates 4 a step (one puzzle),
# and times 2 steps. Both train one sequence at a time, so the peak memory should be close to the recipe's (the
# recipe's own 64 a step have not been measured).
REDUCED = {"temporal_clue_14b": {"steps": 2, "flags": ["--num_generations", "4", "--gradient_accumulation_steps", "4"]}}
BENCH = [sys.executable, "-m", "recipes.tools.bench"]  # the build, quantize and worker steps, each a process
PACKAGES = ("torch", "transformers", "trl", "unsloth", "peft", "bitsandbytes", "vllm")


def benchmarked() -> dict[str, str | None]:
    """What can be benchmarked: each recipe, or each stage of a staged recipe ("recipe:N", from its STAGES), with the
    random model's shape (None: no random model of its default model's shape)."""
    entries = {}
    for name in recipe_names():
        recipe = load_recipe(name)
        shape = shape_of(recipe.DEFAULTS["model_name_or_path"])
        for stage in getattr(recipe, "STAGES", [None]):
            entries[name if stage is None else f"{name}:{stage}"] = shape
    return entries


# --- One engine, one recipe: runs in its own process -------------------------------------------------------------

def worker(recipe_name: str, engine: str, model: str, steps: int, memory_gb: float, result: str,
           recipe_flags: list[str]) -> None:
    os.environ["GRPO_ENGINE"] = "unsloth" if engine == "unsloth" else "trl"  # read by recipes.common on import
    settings = {k: v for k, v in os.environ.items() if k.startswith(("UNSLOTH_", "TORCHDYNAMO_"))}  # the user's
    import torch
    gpu = torch.cuda.is_available()  # no CUDA context yet: the run's own comes out of the memory left to it
    holder, real_total = None, 0
    if gpu and memory_gb:  # before Unsloth and vLLM size themselves by what they see
        holder, unavailable, real_total = hold_rest_of_gpu(memory_gb)
        if holder:
            report_total(torch, unavailable)
    if gpu and not real_total:
        real_total = torch.cuda.mem_get_info()[1]
    try:
        run_worker(recipe_name, engine, model, steps, memory_gb if holder else 0, result, recipe_flags, settings, gpu,
                   real_total)
    finally:
        if holder:
            holder.kill()


def run_worker(recipe_name: str, engine: str, model: str, steps: int, memory_gb: float, result: str,
               recipe_flags: list[str], settings: dict, gpu: bool, real_total: int) -> None:
    from recipes.common import start
    from recipes.common.args import parse_args
    from recipes.common.model import load_model
    from recipes.common.stages import stage_settings
    from recipes.common.training import GenerationTime
    import torch
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    name, _, stage = recipe_name.partition(":")
    recipe = load_recipe(name)
    with tempfile.TemporaryDirectory() as out:
        argv = ["--model_name_or_path", model, "--max_steps", str(steps), "--output_dir", out, "--save_strategy", "no",
                "--logging_steps", "1", "--skip_eval", *recipe_flags]
        args, training_args, *extra = parse_args(recipe.DEFAULTS, argv, getattr(recipe, "ExtraArguments", None))
        if stage:  # the stage's settings and trainer (its data, rewards and callbacks), as the recipe builds them
            stage_setup = stage_settings(int(stage), recipe.STAGES, recipe.DEFAULTS, args, *extra)
            args, training_args = stage_setup.args, stage_setup.training_args

            def build_trainer(model_, tokenizer):
                return recipe.stage_trainer(model_, tokenizer, stage_setup)
        else:
            def build_trainer(model_, tokenizer):  # generated data: as much as the steps use
                return GRPOTrainer(model=model_, processing_class=tokenizer, reward_funcs=recipe.REWARDS,
                                   args=training_args,
                                   train_dataset=recipe.load_data(args, training_args, tokenizer, *extra))
        if engine != "unsloth":  # plain TRL: bf16 LoRA, with TRL's vLLM in this process (its default mode) or HF
            args.load_in_4bit, training_args.use_vllm = False, engine == "trl-vllm"
            training_args.vllm_mode = "colocate"

        steps_log, peak, load_peak = [], MemoryPeak() if gpu else None, None
        unfinished = {}  # the step under way, once one of its micro-batches has trained

        def record(**extra):
            """Write what has been measured so far: a run stopped or out of memory still reports its steps."""
            versions = {}
            for package in PACKAGES:  # from the installed metadata: importing Unsloth here would patch TRL
                try:
                    versions[package] = importlib.metadata.version(package)
                except importlib.metadata.PackageNotFoundError:
                    pass
            partial = Path(result).with_suffix(".part")
            partial.write_text(json.dumps({
                "recipe": recipe_name, "engine": engine, "model": model, "unsloth": start.USE_UNSLOTH,
                "vllm": bool(training_args.use_vllm),
                **({"vllm_gpu_memory_utilization": training_args.vllm_gpu_memory_utilization}
                   if engine == "trl-vllm" else {}),
                "steps": [{k: v for k, v in s.items() if k != "start"} for s in steps_log if "time" in s],
                "completions_per_step": training_args.per_device_train_batch_size
                * training_args.gradient_accumulation_steps,
                "micro_batch": training_args.per_device_train_batch_size,
                "max_completion_length": training_args.max_completion_length,
                "num_generations": training_args.num_generations, "learning_rate": training_args.learning_rate,
                "peak_device_gb": max(peak.peak, load_peak or 0) / 2**30 if peak else None,
                # loading (the model, vLLM's start and its KV cache) apart from training: what a change can lower
                "peak_load_gb": load_peak / 2**30 if load_peak is not None else None,
                "peak_train_gb": peak.peak / 2**30 if peak and load_peak is not None else None,
                "peak_reserved_gb": torch.cuda.max_memory_reserved() / 2**30 if gpu else None,
                "peak_allocated_gb": torch.cuda.max_memory_allocated() / 2**30 if gpu else None,
                "date": str(datetime.date.today()),
                "gpu": torch.cuda.get_device_name() if gpu else "none (CPU)", "gpu_total_gb": real_total / 2**30,
                "memory_cap_gb": memory_gb or None, "memory_cap": "rest of the GPU held" if memory_gb else None,
                "versions": versions,
                "settings": settings, **({"unfinished_step": unfinished} if unfinished else {}), **extra},
                indent=1))
            partial.replace(result)  # whole or not at all: the worker may be killed at any moment

        class StepTimer(TrainerCallback):
            """Each step's seconds, and the seconds and tokens of its generation (from the recipes' GenerationTime)."""

            def __init__(self, generation: GenerationTime):
                self.generation = generation

            def on_step_begin(self, *_, **__):
                if gpu:
                    torch.cuda.synchronize()
                steps_log.append({"start": time.perf_counter(), "generated_before": (self.generation.seconds,
                                                                                     self.generation.tokens)})

            def on_step_end(self, *_, **__):
                if gpu:
                    torch.cuda.synchronize()
                step = steps_log[-1]
                step["time"] = time.perf_counter() - step["start"]
                seconds, tokens = step.pop("generated_before")
                step["generate"], step["tokens"] = self.generation.seconds - seconds, self.generation.tokens - tokens
                unfinished.clear()
                record(complete=False)

            def on_substep_end(self, *_, **__):  # a micro-batch trained: a long step cut short keeps how far it got
                step = steps_log[-1]
                seconds, tokens = step["generated_before"]
                unfinished.update(step=len(steps_log), seconds=time.perf_counter() - step["start"],
                                  generate=self.generation.seconds - seconds, tokens=self.generation.tokens - tokens,
                                  micro_batches=unfinished.get("micro_batches", 0) + 1,
                                  of=training_args.gradient_accumulation_steps)
                record(complete=False)

        if peak:
            peak.__enter__()
        try:
            model_, tokenizer = load_model(args, training_args)
            trainer = build_trainer(model_, tokenizer)
            if peak:
                load_peak = peak.restart()
            record(complete=False)  # loaded: the memory that takes is known even if no step ends
            generation = GenerationTime(trainer)
            trainer.add_callback(generation)
            trainer.add_callback(StepTimer(generation))
            trainer.train()
        except BaseException as error:  # out of memory above all: the steps done and the peak are still worth having
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            record(complete=False, error=f"{type(error).__name__}: {first_line}")
            raise
        finally:
            if peak:
                peak.__exit__()
        record(complete=True)


# --- The whole benchmark: builds the models, runs the workers, writes the table -----------------------------------

def running(runs: Path, recipe: str, engine: str) -> Path:
    """Where a run's worker writes what it has measured while it runs, beside --runs: if the benchmark is stopped (or
    its machine lost) before the run ends, its steps so far are there, and `--table` reads the file."""
    return runs.with_name(f"{runs.stem}-running-{recipe.replace(':', '-stage')}-{engine}.json")


def model_dir(recipe: str, shape: str, cache: Path) -> Path:
    """Where the random model for `recipe` is kept: one per shape and task (its tokenizer is trained on the task)."""
    return cache / f"{shape}-{recipe.split(':')[0].split('_')[0]}"


ENGINE_FLAGS = ("--vllm_max_num_seqs",)  # flags of Unsloth's vLLM, which a model's build (plain TRL) refuses


def without_engine_flags(flags: list[str]) -> list[str]:
    """The run's flags less those of the generation engine: the build reads only the recipe's data."""
    kept, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag in ENGINE_FLAGS:
            skip = True
        elif not flag.startswith(tuple(f + "=" for f in ENGINE_FLAGS)):
            kept.append(flag)
    return kept


def build_model(recipe: str, shape: str, cache: Path, recipe_flags: list[str]) -> None:
    """A random-weight model of the recipe's shape, its tokenizer trained on the text of the recipe's prompts (its
    evaluation sets, read with the flags the runs get), so that prompts have about their real length in tokens."""
    from recipes.common.args import parse_args
    from recipes.tools import random_model

    module = load_recipe(recipe.partition(":")[0])
    recipe_flags = without_engine_flags(recipe_flags)
    args, _, *extra = parse_args(module.DEFAULTS, recipe_flags, getattr(module, "ExtraArguments", None))
    texts = [text for rows in module.load_eval_sets(args, *extra).values() for prompt in rows["prompt"]
             for text in ([prompt] if isinstance(prompt, str) else [m["content"] for m in prompt])]
    random_model.build(shape, model_dir(recipe, shape, cache), texts)


def quantize_copy(source: str, target: Path) -> None:
    """`source` saved again in 4-bit (bitsandbytes NF4, double quantization, bf16 compute), as Unsloth's pre-quantized
    checkpoints are: what a user's 4-bit run downloads and vLLM loads, instead of quantizing bf16 weights itself."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=config, dtype=torch.bfloat16,
                                                 device_map="cuda" if torch.cuda.is_available() else "cpu")
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    print(f"[bench] {source} in 4-bit -> {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", help="default: every recipe (each stage of a staged one) whose "
                        "model has a random shape in recipes/tools/random_model.py")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINE_NAMES),
                        help="default: all three (trl-vllm where vllm is installed), but plain TRL only for the first "
                        "stage of a staged recipe (the later stages differ from it only in completions a step)")
    parser.add_argument("--full", action="store_true", help="Run Temporal Clue at its own settings too (see REDUCED)")
    parser.add_argument("--prequantized", action="store_true",
                        help="Unsloth loads a 4-bit checkpoint of the model, as a user's run does, instead of "
                        "quantizing its bf16 weights while loading")
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps a run: the first is warm-up (default 4)")
    parser.add_argument("--memory_gb", type=float, default=24,
                        help="GPU memory each run sees, as on a GPU of that size (the rest is held); 0: all of it")
    parser.add_argument("--dataset_name", help="The data of every recipe that reads a dataset (hub id, folder or "
                        "file); default: each recipe's own")
    parser.add_argument("--model_name_or_path", dest="model",
                        help="Use this model for every recipe instead of a random one of its shape")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench", help="Where random models are kept")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--runs", type=Path, help="Also keep each run's raw timings here (JSON), saved after each run")
    parser.add_argument("--resume", action="store_true",
                        help="Keep the runs already in --runs that had the same settings, and only do the rest")
    parser.add_argument("--timeout", type=float, default=0,
                        help="Stop a run that takes longer than this many seconds (its threads' stacks are printed)")
    parser.add_argument("recipe_flags", nargs=argparse.REMAINDER, help="after --: flags for every recipe")
    parser.add_argument("--table", type=Path, nargs="+", metavar="RUNS",
                        help="Run nothing: write the table from runs saved with --runs (one or more files)")
    a = parser.parse_args(argv)
    if a.table:
        saved = []
        for path in a.table:
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):  # one run's file from beside --runs: the benchmark stopped during that run
                loaded = [loaded if loaded.get("complete") else
                          {**loaded, "failed": loaded.get("error") or "the benchmark stopped during this run"}]
            saved += loaded
        a.output.write_text(table(saved, "Made from the runs in " + ", ".join(f"`{p.name}`" for p in a.table)))
        print(f"[bench] wrote {a.output} from {len(saved)} run(s)")
        return 0
    from recipes.common.args import reads_dataset

    flags = [f for f in a.recipe_flags if f != "--"]
    shapes = benchmarked()
    if a.recipes is None:
        a.recipes = [entry for entry, shape in shapes.items() if shape or a.model]
    for entry in a.recipes:
        if entry not in shapes:
            parser.error(f"--recipes {entry}: not one of {', '.join(shapes)}")
        if not (shapes[entry] or a.model):
            parser.error(f"--recipes {entry}: no random model has the shape of its model: pass "
                         "--model_name_or_path")

    if a.resume and not a.runs:
        parser.error("--resume needs --runs FILE")
    if a.runs and a.runs.exists() and not a.resume:  # runs measured on a borrowed GPU are not lost to a typo
        parser.error(f"--runs {a.runs} already exists: add --resume to keep its runs and do only the rest, or name "
                     "a new file")

    def run_key(recipe: str) -> dict:
        """The settings a recipe's runs are made with: what --resume compares."""
        reduced = {} if a.full else REDUCED.get(recipe, {})
        if a.dataset_name and reads_dataset(load_recipe(recipe.partition(":")[0]).DEFAULTS):
            flags_of_recipe = [*flags, "--dataset_name", a.dataset_name]
        else:  # it makes its own data
            flags_of_recipe = flags
        return {"steps": reduced.get("steps", a.steps), "memory_gb": a.memory_gb, "model": a.model,
                "flags": reduced.get("flags", []) + flags_of_recipe,
                **({"prequantized": True} if a.prequantized else {})}

    has_vllm = importlib.util.find_spec("vllm") is not None
    if a.engines and BASELINE in a.engines and not has_vllm:
        parser.error(f"--engines {BASELINE} needs the vllm package (pip install -r requirements.txt, on a GPU)")
    if not a.engines and not has_vllm:
        print(f"[bench] {BASELINE} left out: the vllm package is not installed", flush=True)

    def engines(recipe: str) -> list[str]:
        if a.engines:
            return a.engines
        return [e for e in ENGINE_NAMES if e == "unsloth" or (recipe.partition(":")[2] in ("", "1")
                                                              and (e != BASELINE or has_vllm))]

    runs = []
    if a.resume and a.runs.is_file():
        runs = [r for r in json.loads(a.runs.read_text()) if r.get("bench") == run_key(r.get("recipe", ""))]
        print(f"[bench] resuming: {len(runs)} run(s) kept from {a.runs}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in a.recipes:
            model = a.model or str(model_dir(recipe, shapes[recipe], a.cache))
            key = run_key(recipe)
            if not a.model and not (Path(model) / "config.json").is_file():  # in its own process: no GPU memory here
                subprocess.run([*BENCH, "--build", recipe, shapes[recipe], str(a.cache), *key["flags"]], cwd=ROOT,
                               check=True)
            for engine in engines(recipe):
                if any(r["recipe"] == recipe and r["engine"] == engine for r in runs):
                    continue
                engine_model = model
                if a.prequantized and engine == "unsloth":
                    engine_model = str(a.cache / f"{Path(model).name}-bnb-4bit")
                    if not (Path(engine_model) / "config.json").is_file():
                        subprocess.run([*BENCH, "--quantize", model, engine_model], cwd=ROOT, check=True)
                result = running(a.runs, recipe, engine) if a.runs else Path(tmp) / f"{recipe}-{engine}.json"
                print(f"[bench] {recipe} / {engine}: {key['steps']} steps", flush=True)
                proc = subprocess.Popen([*BENCH, "--worker", recipe, engine, engine_model,
                                         str(key["steps"]), str(a.memory_gb), str(result), *key["flags"]], cwd=ROOT)
                try:
                    proc.wait(timeout=a.timeout or None)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGUSR1)  # the worker prints where each thread is
                    time.sleep(5)
                    proc.kill()
                    proc.wait()
                    failure = f"stopped after {a.timeout:.0f} s"
                else:
                    failure = (proc.returncode or None) and f"exit status {proc.returncode}"
                run = json.loads(result.read_text()) if result.is_file() else {"recipe": recipe, "engine": engine}
                if failure or not run.get("complete"):
                    run["failed"] = run.get("error") or failure or "no result written"
                runs.append({**run, "bench": key})  # a failed run is kept too: --resume does not repeat it
                if a.runs:
                    a.runs.write_text(json.dumps(runs, indent=1))
                    result.unlink(missing_ok=True)
                if run.get("steps"):
                    s = summarise(run)
                    print(f"[bench] {recipe} / {engine}: {s['step']:.2f} s/step over {s['n']}, "
                          f"{100 * s['share']:.0f} % generating, {s['tokens_per_s']:.0f} tokens/s, "
                          f"peak {run.get('peak_device_gb') or 0:.2f} GB", flush=True)
    command = "make bench" + (f' ARGS="{" ".join(argv)}"' if argv else "")
    a.output.write_text(table(runs, f"Made by `{command}`"))
    failures = [f"{r['recipe']} / {r['engine']}: {r['failed']}" for r in runs if r.get("failed")]  # saved ones too
    print(f"[bench] wrote {a.output}" + (f"; failed: {'; '.join(failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["--worker"]:  # the recipes imported for their settings load no Unsloth; a worker picks its own
        os.environ["GRPO_ENGINE"] = "trl"
    if len(sys.argv) > 1 and sys.argv[1] == "--quantize":
        quantize_copy(sys.argv[2], Path(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--build":
        build_model(sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        recipe_, engine_, model_, steps_, memory_, result_, *flags_ = sys.argv[2:]
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # for --timeout
        worker(recipe_, engine_, model_, int(steps_), float(memory_), result_, flags_)
    else:
        sys.exit(main(sys.argv[1:]))
