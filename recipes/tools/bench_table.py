"""The benchmark's results table (BENCHMARKS.md), from its runs: each run's steady seconds a step, generation share and
tokens a second (`summarise`), and its speed-up against plain TRL."""

import datetime
import statistics

from recipes.tools.catalog import recipe_names

ENGINE_NAMES = {"unsloth": "Unsloth 4-bit LoRA", "trl-vllm": "plain TRL + PEFT, bf16 LoRA",
                "trl": "plain TRL + PEFT, bf16 LoRA"}
SHORT_NAMES = {"unsloth": "Unsloth", "trl-vllm": "TRL + vLLM", "trl": "TRL + HF generation"}
BASELINE, FLOOR = "trl-vllm", "trl"  # the speed-up is against TRL with its own vLLM; HF generation is the floor


def summarise(run: dict) -> dict:
    """Median seconds per step after the first, generation share and tokens per second over those steps."""
    steady = run["steps"][1:] or run["steps"]
    seconds = sum(s["time"] for s in steady)
    generating = sum(s["generate"] for s in steady)
    return {"step": statistics.median(s["time"] for s in steady), "n": len(steady),
            "first": run["steps"][0]["time"], "share": generating / seconds if seconds else 0.0,
            "tokens_per_s": sum(s["tokens"] for s in steady) / generating if generating else 0.0}


def extra_flags(run: dict) -> tuple[str, ...]:
    """The recipe flags a run was given (after `--`), less the dataset: "--name value" pairs joined."""
    flags, out = list(run.get("bench", {}).get("flags", [])), []
    while flags:
        flag = flags.pop(0)
        value = flags.pop(0) if flags and not flags[0].startswith("--") else None
        if flag != "--dataset_name":
            out.append(flag if value is None else f"{flag} {value}")
    return tuple(out)


def brief(reason: str) -> str:
    """A failure's first two sentences: "OutOfMemoryError: CUDA out of memory. Tried to allocate 4.65 GiB" """
    return ". ".join(reason.split(". ")[:2])


def unfinished(run: dict) -> str:
    """How far the step under way had got when the run stopped: a long step (Temporal Clue's 64 answers) cut short
    still tells its generation's speed."""
    u = run.get("unfinished_step")
    if not u:
        return ""
    rate = f", {u['tokens'] / u['generate']:.0f} tokens/s" if u["generate"] else ""
    return (f"; step {u['step']} unfinished after {u['seconds']:.0f} s: {u['tokens']} tokens generated in "
            f"{u['generate']:.0f} s{rate}, {u['micro_batches']} of {u['of']} micro-batches trained")


def engine_label(run: dict) -> str:
    if "unsloth" not in run:  # the run failed before it wrote anything
        return ENGINE_NAMES[run["engine"]]
    if run["engine"] == "unsloth" and not run["unsloth"]:
        return "transformers + PEFT 4-bit LoRA (no CUDA, so no Unsloth), HF generation"
    label = ENGINE_NAMES[run["engine"]] + (", vLLM generation" if run["vllm"] else ", HF generation")
    if run["engine"] == "trl-vllm":
        label += f" (TRL's, colocated, share {run.get('vllm_gpu_memory_utilization', '?')})"
    if "--load_in_4bit false" in extra_flags(run):  # the flag is shown too
        label = label.replace("4-bit", "bf16")
    elif run["engine"] == "unsloth" and run.get("bench", {}).get("prequantized"):
        label = label.replace("4-bit LoRA", "4-bit LoRA (pre-quantized checkpoint)")
    return label + "".join(f", `{k}={v}`" for k, v in sorted(run.get("settings", {}).items()))


def table(runs: list[dict], made_by: str) -> str:
    first = next((r for r in runs if "gpu" in r), {})
    cap = first.get("memory_cap_gb")
    lines = [
        "# Benchmarks", "",
        f"{made_by} on {first.get('date', datetime.date.today())}: one {first.get('gpu', '?')} "
        f"({first.get('gpu_total_gb', 0):.0f} GB), " + (
            "no memory cap." if not cap else
            f"made a {cap:g} GB GPU as an RTX 3090 is (another process held the rest of it)."
            if first.get("memory_cap") else
            f"capped at {cap:g} GB per process as on an RTX 3090 (PyTorch's allocator, and vLLM's share scaled)."),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in first.get("versions", {}).items()) + ".", "",
        "Random weights with each recipe's model shape, at the recipe's own settings unless flags are shown; every "
        "completion runs to the length limit. Seconds per step: the median of the steps after the first (warm-up, "
        "shown apart). A run that failed shows what it measured before it stopped.", "",
        "| recipe | engine | completions × tokens a step | s / step | first step (s) | generation share "
        "| generated tokens/s | peak GPU memory | speed-up vs TRL + vLLM | vs TRL + HF generation |",
        "|---|---|---|---|---|---|---|---|---|---|"]

    def steps_of(engine):
        return {(r["recipe"], extra_flags(r)): summarise(r)["step"] for r in runs
                if r["engine"] == engine and not r.get("failed") and len(r["steps"]) > 1}

    def failed(engine):
        return {(r["recipe"], extra_flags(r)) for r in runs if r["engine"] == engine and r.get("failed")}

    references = [(steps_of(engine), failed(engine), engine) for engine in (BASELINE, FLOOR)]

    def speedup(run, step, reference):
        times, failures, engine = reference
        key = (run["recipe"], extra_flags(run))
        if key in times and len(run["steps"]) > 1:
            return f"{times[key] / step:.1f}×"
        return f"{SHORT_NAMES[engine]} failed" if key in failures and run["engine"] != engine else "-"
    order = recipe_names()

    def place(run):  # the recipes in order, each one's stages in order, then its runs with other flags
        name, _, stage = run["recipe"].partition(":")
        return (order.index(name) if name in order else len(order), stage, extra_flags(run),
                list(ENGINE_NAMES).index(run["engine"]))
    runs = sorted(runs, key=place)
    for r in runs:
        engine = engine_label(r) + "".join(f" `{f}`" for f in extra_flags(r))
        shape = f"{r['completions_per_step']} × {r['max_completion_length']}" if "completions_per_step" in r else "-"
        if r.get("micro_batch"):
            shape += f" ({r['micro_batch']} at a time)"
        peak_gb = r.get("peak_device_gb")
        memory = "-" if peak_gb is None else f"{peak_gb:.1f} GB"
        notes = []
        if r.get("failed") and peak_gb is not None:
            memory += " until it stopped"
        elif cap and peak_gb is not None:
            notes.append(f"{cap - peak_gb:.1f} GB to spare" if peak_gb <= cap else f"**{peak_gb - cap:.1f} GB over**")
        if r.get("peak_load_gb") is not None and r.get("peak_train_gb") is not None:
            notes.append(f"loading {r['peak_load_gb']:.1f}, training {r['peak_train_gb']:.1f}")
        memory += f" ({'; '.join(notes)})" if notes else ""
        failure = f"**failed: {brief(r['failed'])}**{unfinished(r)}" if r.get("failed") else ""
        if r.get("steps"):
            s = summarise(r)
            ratios = " | ".join(speedup(r, s["step"], reference) for reference in references)
            step = f"{s['step']:.1f} (median of {s['n']})" if len(r["steps"]) > 1 else "-"
            lines.append(f"| {r['recipe']} | {engine} | {shape} | {' '.join(filter(None, [step, failure]))} "
                         f"| {s['first']:.1f} | {100 * s['share']:.0f} % | {s['tokens_per_s']:.0f} | {memory} "
                         f"| {ratios} |")
        else:
            lines.append(f"| {r['recipe']} | {engine} | {shape} | {failure or '-'} | - | - | - | {memory} | - | - |")
    return "\n".join(lines) + "\n"
