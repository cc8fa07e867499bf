"""Benchmark a recipe on several GPUs of one machine, as `make <recipe> GPUS=N` runs it (recipes/tools/launch.py):
for each way of spreading it, each GPU's peak memory, the seconds a step, the share of it spent generating and the
tokens generated a second. Random weights of the recipe's model shape, as in the one-GPU benchmark (bench.py).

    python -m recipes.tools.bench_gpus --gpus 4 --recipes knights_knaves_7b:1 temporal_clue_14b --steps 3 \\
        --ways fsdp2+server zero3+server fsdp2+colocate --weights lora full --runs runs.json --output table.md
    python -m recipes.tools.bench_gpus --gpus 4 --recipes knights_knaves_7b:2 -- --gradient_accumulation_steps 4
    python -m recipes.tools.bench_gpus --table runs.json     # no GPU: the table from saved runs

A way is an accelerate config (fsdp2, zero3, ddp) with where the completions come from: Hugging Face generation on
every training GPU (no suffix), TRL's vLLM colocated on every training GPU (`+colocate`), or a `trl vllm-serve`
server on GPU 0 with the other GPUs training (`+server`). Weights: a bf16 LoRA (`lora`) or every weight (`full`,
`--use_peft false`). Seconds a step and the generation's seconds are TRL's `step_time` and the recipes'
`generate_time` (log_history.json; the first process's), the median of the steps after the first. Peak memory is
each GPU's highest use as nvidia-smi reports it (the whole device: CUDA contexts and vLLM included), sampled every
0.5 s. Each run saves as soon as it ends (`--runs`), so a run cut short loses only itself; `--resume` skips the runs
already saved.
"""

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from recipes.tools.bench_table import summarise
from recipes.tools.catalog import load_recipe
from recipes.tools.launch import kill_tree

WAYS = [f"{dist}{vllm}" for dist in ("fsdp2", "zero3", "ddp") for vllm in ("", "+colocate", "+server")]
WEIGHTS = {"lora": [], "full": ["--use_peft", "false"]}
GENERATION = {"": "HF generation", "colocate": "vLLM colocated", "server": "vLLM server on GPU 0"}


class GpuPeaks(threading.Thread):
    """Each GPU's highest memory use (MiB) while the run lasts, read from nvidia-smi every `interval` seconds."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.peaks, self.done = interval, {}, threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                return  # no nvidia-smi (a CPU run): no peaks
            for line in out.strip().splitlines():
                index, used = (part.strip() for part in line.split(","))
                self.peaks[index] = max(self.peaks.get(index, 0), int(used))
            self.done.wait(self.interval)

    def stop(self) -> dict[str, int]:
        self.done.set()
        self.join(timeout=15)
        return dict(self.peaks)


def completions_per_step(recipe_name: str, flags: list[str]) -> int:
    """Completions one training process takes a step (per_device_train_batch_size x gradient_accumulation_steps),
    with the stage's settings for a staged recipe, as the run reads them."""
    from recipes.common.args import parse_args
    from recipes.common.stages import stage_settings

    name, _, stage = recipe_name.partition(":")
    recipe = load_recipe(name)
    args, training_args, *extra = parse_args(recipe.DEFAULTS, flags, getattr(recipe, "ExtraArguments", None))
    if stage:
        training_args = stage_settings(int(stage), recipe.STAGES, recipe.DEFAULTS, args, *extra).training_args
    return training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps


def launch_command(a, recipe_name: str, way: str, weights: str, model: str, out: str) -> list[str]:
    name, _, stage = recipe_name.partition(":")
    dist, _, vllm = way.partition("+")
    command = [sys.executable, "-m", "recipes.tools.launch", "--gpus", str(a.gpus), "--dist", dist,
               "--vllm_gpus", "1" if vllm == "server" else "0", *(["--cpu"] if a.cpu else []), name,
               "--model_name_or_path", model, "--output_dir", out, "--max_steps", str(a.steps), "--skip_eval",
               "--save_strategy", "no", "--logging_steps", "1", *(["--stage", stage] if stage else []),
               *WEIGHTS[weights]]
    if vllm == "colocate":
        command += ["--use_vllm", "true", "--vllm_mode", "colocate"]
    return command + a.recipe_flags


def run_one(a, recipe_name: str, way: str, weights: str, model: str) -> dict:
    """One launch: its steps from log_history.json, its GPUs' peaks, and how it ended."""
    training_gpus = a.gpus - (1 if way.endswith("+server") else 0)
    flags = ["--model_name_or_path", model, *WEIGHTS[weights], *a.recipe_flags]
    per_step = completions_per_step(recipe_name, flags) * training_gpus  # each training process takes its own
    run = {"recipe": recipe_name, "way": way, "weights": weights, "gpus": a.gpus, "training_gpus": training_gpus,
           "model": model, "steps": [], "completions_per_step": per_step, "flags": a.recipe_flags,
           "date": datetime.date.today().isoformat()}
    with tempfile.TemporaryDirectory() as out:
        command = launch_command(a, recipe_name, way, weights, model, out)
        run["command"] = " ".join(command[1:]).replace(out, "OUT")
        print(f"[bench_gpus] {recipe_name} / {way} / {weights}: {run['command']}", flush=True)
        peaks = GpuPeaks()
        peaks.start()
        log_path = Path(a.logs) / f"{recipe_name.replace(':', '-')}-{way}-{weights}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = process.wait(timeout=a.timeout or None)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGTERM)  # the launcher stops training and the server
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    kill_tree(process.pid)
                    process.wait()
                code = None
        run["peak_mib_per_gpu"] = peaks.stop() or None
        stage = recipe_name.partition(":")[2]
        history = Path(out, f"stage-{stage}" if stage else "", "log_history.json")
        logged = json.loads(history.read_text()) if history.is_file() else []
    for entry in logged:
        if "step_time" in entry:
            run["steps"].append({"time": entry["step_time"], "generate": entry.get("generate_time", 0.0),
                                 "tokens": entry.get("completions/mean_length", 0.0) * run["completions_per_step"]})
    if code != 0:
        run["failed"] = f"stopped after {a.timeout:.0f} s" if code is None else failure_line(log_path, code)
    run["log"] = str(log_path)
    return run


def failure_line(log_path: Path, code: int) -> str:
    """Why a launch failed: the recipe's one-line error if it wrote one, else the last exception line in its output
    (torch's launcher ends with a summary of which process failed, after the process's own traceback)."""
    lines = [re.sub(r"^\[rank\d+\]:", "", line).strip() for line in log_path.read_text(errors="replace").splitlines()]
    for prefix in ("error: ", ""):
        found = [line for line in lines if line.startswith(prefix) and (prefix or is_exception_line(line))]
        if found:
            return found[-1][:300]
    return f"exit code {code}"


def is_exception_line(line: str) -> bool:
    """"OutOfMemoryError: CUDA out of memory..." or "torch.OutOfMemoryError: ...", not torch's ChildFailedError."""
    name = line.split(":", 1)[0]
    return ":" in line and name.split(".")[-1].endswith(("Error", "Exception")) and " " not in name \
        and not name.endswith("ChildFailedError")


def table(runs: list[dict]) -> str:
    rows = ["| recipe | way | weights | completions a step | s / step | first step (s) | generation share | "
            "generated tokens/s | peak per GPU (GiB) |", "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        dist, _, vllm = run["way"].partition("+")
        way = f"{'FSDP2' if dist == 'fsdp2' else dist.upper()}, {GENERATION[vllm]}, {run['training_gpus']} training"
        weights = "bf16 LoRA" if run["weights"] == "lora" else "every weight (bf16)"
        s = summarise(run) if run["steps"] else None
        cells = ([f"{s['step']:.1f} (median of {s['n']})", f"{s['first']:.1f}", f"{s['share']:.0%}",
                  f"{s['tokens_per_s']:.0f}"] if s else ["-"] * 4)
        if run.get("failed"):
            cells[0] += f" **failed: {run['failed']}**"
        peaks = run.get("peak_mib_per_gpu")
        peak = ", ".join(f"{peaks[i] / 1024:.1f}" for i in sorted(peaks, key=int)) if peaks else "-"
        rows.append("| " + " | ".join([run["recipe"], way, weights, str(run["completions_per_step"]), *cells, peak])
                    + " |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes.tools.bench_gpus", description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=4, help="GPUs of this machine, the server's included")
    parser.add_argument("--recipes", nargs="+", default=["knights_knaves_7b:1", "knights_knaves_7b:2",
                                                         "temporal_clue_14b"])
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=["fsdp2+server", "zero3+server"])
    parser.add_argument("--weights", nargs="+", choices=list(WEIGHTS), default=["lora", "full"])
    parser.add_argument("--steps", type=int, default=3, help="steps a run: the first is warm-up (default 3)")
    parser.add_argument("--model_name_or_path", dest="model", help="this model for every recipe, not a random one")
    parser.add_argument("--cache", type=Path, default=Path(".cache") / "bench", help="where random models are kept")
    parser.add_argument("--timeout", type=float, default=0, help="stop a run after this many seconds")
    parser.add_argument("--runs", type=Path, help="keep every run here (JSON), saved as each one ends")
    parser.add_argument("--resume", action="store_true", help="skip the runs already in --runs")
    parser.add_argument("--output", type=Path, help="write the markdown table here")
    parser.add_argument("--logs", default="outputs/bench-gpus", help="each launch's output, a file a run")
    parser.add_argument("--cpu", action="store_true", help="the launcher's --cpu (DDP over gloo): for tests")
    parser.add_argument("--table", type=Path, nargs="+", metavar="RUNS", help="only write the table from saved runs")
    parser.add_argument("recipe_flags", nargs=argparse.REMAINDER, help="after --: flags for every run")
    a = parser.parse_args(argv)
    a.recipe_flags = a.recipe_flags[1:] if a.recipe_flags[:1] == ["--"] else a.recipe_flags
    if a.runs and a.runs.exists() and not (a.resume or a.table):  # runs measured on borrowed GPUs are not lost
        parser.error(f"--runs {a.runs} already exists: add --resume to keep its runs and do only the rest, or name "
                     "a new file")
    if a.table:
        runs = [run for path in a.table for run in json.loads(path.read_text())]
    else:
        runs = json.loads(a.runs.read_text()) if a.resume and a.runs and a.runs.is_file() else []
        done = {(r["recipe"], r["way"], r["weights"]) for r in runs}
        for recipe_name in a.recipes:
            model = a.model or random_model_for(recipe_name, a.cache, a.recipe_flags)
            for way in a.ways:
                for weights in a.weights:
                    if (recipe_name, way, weights) in done:
                        continue
                    runs.append(run_one(a, recipe_name, way, weights, model))
                    if a.runs:
                        a.runs.write_text(json.dumps(runs, indent=1))
                    last = runs[-1]
                    print(f"[bench_gpus] {last.get('failed') or (summarise(last) if last['steps'] else 'no steps')}",
                          flush=True)
    text = table(runs)
    if a.output:
        a.output.write_text(text)
    print(text)
    return 1 if any(r.get("failed") for r in runs) else 0


def random_model_for(recipe_name: str, cache: Path, flags: list[str]) -> str:
    """The one-GPU benchmark's random model of the recipe's shape, built once (in a process of its own) and kept."""
    from recipes.tools.bench import model_dir
    from recipes.tools.random_model import shape_of

    shape = shape_of(load_recipe(recipe_name.partition(":")[0]).DEFAULTS["model_name_or_path"])
    if shape is None:
        raise SystemExit(f"error: {recipe_name}: its model has no random shape here; pass --model_name_or_path")
    folder = model_dir(recipe_name, shape, cache)
    if not (folder / "config.json").is_file():
        subprocess.run([sys.executable, "-m", "recipes.tools.bench", "--build", recipe_name, shape, str(cache),
                        *flags], check=True)
    return str(folder)


if __name__ == "__main__":
    os.environ["GRPO_ENGINE"] = "trl"  # the recipes imported for their settings load no Unsloth, as under launch
    sys.exit(main(sys.argv[1:]))
