"""The benchmark (recipes/tools/bench.py) end to end on a tiny model on the CPU: both engines, each in its own process,
and the table it writes. The numbers themselves come from the GPU (BENCHMARKS.md); here the bookkeeping is checked."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from recipes.tools import bench, bench_table, gpu_memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUESTIONS = [{"question": f"Ann has {n} apples and buys {n + 1} more. How many apples does she have?",
              "answer": f"She has {n} + {n + 1} = {2 * n + 1}.\n#### {2 * n + 1}"} for n in range(40)]


def test_bench_runs_both_engines_and_writes_the_table(tiny_model, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    output, runs = tmp_path / "BENCHMARKS.md", tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, "-m", "recipes.tools.bench", "--recipes", "gsm8k_1_5b", "--steps", "3",
         "--model_name_or_path", tiny_model, "--dataset_name", str(data), "--output", str(output), "--runs", str(runs),
         "--",
         "--gradient_accumulation_steps", "2", "--per_device_train_batch_size", "2", "--num_generations", "2",
         "--max_completion_length", "6", "--max_prompt_tokens", "1024"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]

    results = json.loads(runs.read_text())
    assert [(r["recipe"], r["engine"]) for r in results] == [("gsm8k_1_5b", "unsloth"), ("gsm8k_1_5b", "trl")]
    assert not list(tmp_path.glob("*running*"))  # each run's file of work in progress went once the run was saved
    for r in results:
        assert len(r["steps"]) == 3 and r["completions_per_step"] == 4
        for step in r["steps"]:
            # every step generated 4 completions of at most 6 tokens, and generating was part of the step's time
            assert 4 <= step["tokens"] <= 4 * 6
            assert 0 < step["generate"] < step["time"]

    text = output.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| gsm8k_1_5b")]
    assert len(rows) == 2 and "median of 2" in rows[0]
    assert rows[1].endswith("| - | 1.0× |")  # plain TRL against itself; no TRL + vLLM run without vllm
    assert "[bench] trl-vllm left out: the vllm package is not installed" in done.stdout
    assert "none (CPU)" in text and "trl " in text

    # --resume keeps the runs already done with the same settings and runs only what is missing
    output.unlink()
    results[1]["bench"]["steps"] = 2  # as if plain TRL had run with other settings: it is run again
    runs.write_text(json.dumps(results))
    again = subprocess.run(
        [sys.executable, "-m", "recipes.tools.bench", "--recipes", "gsm8k_1_5b", "--steps", "3",
         "--model_name_or_path", tiny_model, "--dataset_name", str(data), "--output", str(output), "--runs", str(runs),
         "--resume", "--",
         "--gradient_accumulation_steps", "2", "--per_device_train_batch_size", "2", "--num_generations", "2",
         "--max_completion_length", "6", "--max_prompt_tokens", "1024"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming: 1 run(s) kept" in again.stdout
    assert "gsm8k_1_5b / unsloth: 3 steps" not in again.stdout and "gsm8k_1_5b / trl: 3 steps" in again.stdout
    resumed = json.loads(runs.read_text())
    assert resumed[0] == results[0] and [r["engine"] for r in resumed] == ["unsloth", "trl"]
    assert len([line for line in output.read_text().splitlines() if line.startswith("| gsm8k_1_5b")]) == 2


def test_prequantized_runs_load_a_4bit_checkpoint_of_the_model(tiny_model, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    output, runs, cache = tmp_path / "BENCHMARKS.md", tmp_path / "runs.json", tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-m", "recipes.tools.bench", "--recipes", "gsm8k_1_5b", "--engines", "unsloth", "--steps", "2",
         "--model_name_or_path", tiny_model, "--prequantized", "--cache", str(cache), "--dataset_name", str(data),
         "--output", str(output), "--runs", str(runs), "--", "--gradient_accumulation_steps", "2",
         "--per_device_train_batch_size", "2", "--num_generations", "2", "--max_completion_length", "6"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    quantized = cache / f"{os.path.basename(tiny_model)}-bnb-4bit"
    config = json.loads((quantized / "config.json").read_text())
    assert config["quantization_config"]["bnb_4bit_quant_type"] == "nf4"  # saved in 4-bit, as Unsloth's are
    assert (quantized / "tokenizer.json").is_file()
    run = json.loads(runs.read_text())[0]
    assert run["bench"]["prequantized"] is True and len(run["steps"]) == 2
    assert run["model"] == str(quantized)  # the run loaded the 4-bit copy


def test_a_run_stopped_by_the_timeout_is_kept_as_failed_and_not_repeated(tiny_model, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    output, runs = tmp_path / "BENCHMARKS.md", tmp_path / "runs.json"
    # far more steps than 40 s allow; 40 s is ample for the worker to load (about 7 s here) and record that it did
    command = [sys.executable, "-m", "recipes.tools.bench", "--recipes", "gsm8k_1_5b", "--engines", "trl", "--steps",
               "100000",
               "--timeout", "40", "--model_name_or_path", tiny_model, "--dataset_name", str(data),
               "--output", str(output), "--runs", str(runs), "--", "--gradient_accumulation_steps", "2",
               "--per_device_train_batch_size", "2",
               "--num_generations", "2", "--max_completion_length", "32", "--max_prompt_tokens", "1024"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "[bench] gsm8k_1_5b / trl: 100000 steps" in done.stdout
    assert "failed: gsm8k_1_5b / trl: stopped after 40 s" in done.stdout
    assert "most recent call first" in done.stderr  # the worker printed its threads' stacks before it was killed

    # kept in --runs with what it measured before it was stopped
    [run] = json.loads(runs.read_text())
    assert (run["recipe"], run["engine"], run["failed"]) == ("gsm8k_1_5b", "trl", "stopped after 40 s")
    assert run["complete"] is False and run["completions_per_step"] == 4  # written by the worker once loaded
    assert run["bench"]["steps"] == 100000
    [row] = [line for line in output.read_text().splitlines() if line.startswith("| gsm8k_1_5b")]
    assert "**failed: stopped after 40 s**" in row

    # --resume keeps the failed run and does not run it again
    output.unlink()
    again = subprocess.run([*command[:3], "--resume", *command[3:]], cwd=ROOT, capture_output=True, text=True, env=env)
    assert "Traceback" not in again.stderr, again.stderr[-2000:]
    assert "resuming: 1 run(s) kept" in again.stdout
    assert "gsm8k_1_5b / trl: 100000 steps" not in again.stdout
    assert json.loads(runs.read_text()) == [run]
    [row] = [line for line in output.read_text().splitlines() if line.startswith("| gsm8k_1_5b")]
    assert "**failed: stopped after 40 s**" in row


def test_a_benchmark_killed_in_a_long_step_leaves_how_far_the_step_got(tiny_model, tmp_path):
    """As when the GPU machine is lost: everything is killed at once, and the run's file beside --runs tells the
    steps so far and the step under way (its generation and how many of its micro-batches trained)."""
    many = [{"question": f"Bob has {n} pens and buys {n + 2} more. How many pens does he have?",
             "answer": f"#### {2 * n + 2}"} for n in range(200)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in many))
    runs = tmp_path / "runs.json"
    bench_run = subprocess.Popen(  # 200 micro-batches a step: seconds of training after each step's generation
        [sys.executable, "-m", "recipes.tools.bench", "--recipes", "gsm8k_1_5b", "--engines", "trl", "--steps",
         "1000", "--model_name_or_path", tiny_model, "--dataset_name", str(data), "--output", str(tmp_path / "B.md"),
         "--runs", str(runs), "--", "--gradient_accumulation_steps", "200", "--per_device_train_batch_size", "1",
         "--num_generations", "2", "--max_completion_length", "8", "--max_prompt_tokens", "1024"],
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = bench.running(runs, "gsm8k_1_5b", "trl")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and bench_run.poll() is None:
            if running.is_file() and (json.loads(running.read_text()).get("unfinished_step") or {}).get(
                    "micro_batches", 0) >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no step got 3 micro-batches trained")
    finally:
        os.killpg(bench_run.pid, signal.SIGKILL)
        bench_run.wait()
    assert not runs.exists()  # no run ended
    run = json.loads(running.read_text())
    u = run["unfinished_step"]
    assert run["complete"] is False and u["step"] == len(run["steps"]) + 1 and u["of"] == 200
    assert 3 <= u["micro_batches"] < 200 and u["generate"] > 0 and 200 <= u["tokens"] <= 200 * 8
    assert u["generate"] < u["seconds"]
    assert bench.main(["--table", str(running), "--output", str(tmp_path / "B.md")]) == 0
    [row] = [line for line in (tmp_path / "B.md").read_text().splitlines() if line.startswith("| gsm8k_1_5b")]
    assert "**failed: the benchmark stopped during this run**" in row
    assert f"step {u['step']} unfinished after " in row and f"{u['micro_batches']} of 200 micro-batches trained" in row


def test_saved_runs_are_never_overwritten(tmp_path, capsys):
    runs = tmp_path / "runs.json"
    runs.write_text("[]")
    with pytest.raises(SystemExit) as stop:
        bench.main(["--recipes", "gsm8k_1_5b", "--model_name_or_path", "unused", "--runs", str(runs)])
    assert stop.value.code == 2 and runs.read_text() == "[]"
    assert f"--runs {runs} already exists: add --resume" in capsys.readouterr().err


def test_summary_leaves_out_the_warm_up_step():
    run = {"steps": [{"time": 100.0, "generate": 90.0, "tokens": 10},
                     {"time": 2.0, "generate": 1.0, "tokens": 100},
                     {"time": 4.0, "generate": 3.0, "tokens": 300},
                     {"time": 3.0, "generate": 2.0, "tokens": 200}]}
    s = bench_table.summarise(run)
    assert (s["step"], s["n"], s["first"]) == (3.0, 3, 100.0)
    assert s["share"] == 6.0 / 9.0 and s["tokens_per_s"] == 600 / 6.0


@pytest.mark.parametrize("recipe, flags, learning_rate", [
    ("knights_knaves_7b:3", ["--puzzles", "8"], 2e-7),  # one stage of a staged recipe: stage 3's settings
    ("temporal_clue_14b", ["--eval_limit", "1"], 6e-6),  # generated data: only the puzzles the steps use
    ("countdown_3b", ["--puzzles", "8"], 1e-5),  # a recipe of its own flags (ExtraArguments), generated puzzles
], ids=["kk-stage-3", "temporal-clue", "countdown"])
def test_bench_drives_each_kind_of_recipe(recipe, flags, learning_rate, tiny_model, tmp_path):
    runs = tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, "-m", "recipes.tools.bench", "--recipes", recipe, "--engines", "trl", "--steps", "2",
         "--model_name_or_path", tiny_model, "--output", str(tmp_path / "B.md"), "--runs", str(runs), "--",
         "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--num_generations", "2",
         "--max_completion_length", "6", "--max_prompt_tokens", "8192", *flags],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    [run] = json.loads(runs.read_text())
    # the recipe's own settings (its learning rate) under the flags given, and two steps, each generating
    assert run["recipe"] == recipe and run["learning_rate"] == learning_rate
    assert run["completions_per_step"] == 4 and run["num_generations"] == 2
    assert len(run["steps"]) == 2 and all(s["tokens"] > 0 for s in run["steps"])


def test_the_random_models_tokenizer_learns_the_text_of_the_recipes_prompts(countdown_dir, tmp_path, monkeypatch):
    """Countdown's rows have no question: the corpus is their prompts, text or the chat messages' contents, read
    with the flags the runs get."""
    from data import countdown
    from recipes.countdown_3b import DATA_SEED
    from recipes.tools import random_model

    corpora = []
    monkeypatch.setattr(random_model, "build", lambda shape, out, corpus: corpora.append((shape, corpus)))
    bench.build_model("countdown_3b", "qwen2.5-3b", tmp_path, ["--dataset_name", str(countdown_dir)])
    # a flag of Unsloth's vLLM, which the build's plain TRL would refuse, does not stop the build
    bench.build_model("countdown_3b", "qwen2.5-3b", tmp_path, ["--puzzles", "5", "--vllm_max_num_seqs", "98",
                                                               "--eval_limit", "2", "--vllm_max_num_seqs=9", "--chat",
                                                               "true"])
    test = countdown.load(str(countdown_dir), "test")
    assert corpora[0] == ("qwen2.5-3b", test["prompt"]) and len(test) == 1024
    generated = countdown.generate(2, DATA_SEED, chat=True)
    assert corpora[1][1] == [message["content"] for prompt in generated["prompt"] for message in prompt]


def test_table_compares_runs_with_the_same_flags(tmp_path):
    def run(engine, seconds, flags):
        return {"recipe": "gsm8k_0_5b", "engine": engine, "unsloth": engine == "unsloth", "vllm": engine == "unsloth",
                "steps": [{"time": 50.0, "generate": 1.0, "tokens": 8}] + [{"time": seconds, "generate": 1.0,
                                                                          "tokens": 8}] * 3,
                "completions_per_step": 32, "max_completion_length": 512, "peak_device_gb": 10.0,
                "memory_cap_gb": 24, "gpu": "G", "gpu_total_gb": 80, "versions": {}, "settings": {},
                "bench": {"flags": [*flags, "--dataset_name", "d"]}}
    big = ["--per_device_train_batch_size", "32"]
    runs = [run("unsloth", 10.0, []), run("trl", 40.0, []), run("unsloth", 5.0, big), run("trl", 30.0, big)]
    assert bench_table.extra_flags(runs[2]) == ("--per_device_train_batch_size 32",)
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps(runs))
    assert bench.main(["--table", str(saved), "--output", str(tmp_path / "B.md")]) == 0
    rows = [line for line in (tmp_path / "B.md").read_text().splitlines() if line.startswith("| gsm8k_0_5b")]
    # each run is compared with plain TRL at its own flags: 40 / 10 and 30 / 5, not 30 / 10
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["4.0×", "1.0×", "6.0×", "1.0×"]
    assert [row.rsplit("|", 3)[1].strip() for row in rows] == ["-"] * 4  # no TRL + vLLM run: no main ratio
    assert "`--per_device_train_batch_size 32`" in rows[2] and "`--per_device_train_batch_size" not in rows[0]
    assert "14.0 GB to spare" in rows[0] and "`runs.json`" in (tmp_path / "B.md").read_text()


def test_the_speed_up_is_against_trl_with_its_own_vllm_and_hf_generation_is_the_floor(tmp_path):
    def run(engine, seconds):
        return {"recipe": "gsm8k_0_5b", "engine": engine, "unsloth": engine == "unsloth", "vllm": engine != "trl",
                "steps": [{"time": 50.0, "generate": 1.0, "tokens": 8}] + [{"time": seconds, "generate": 1.0,
                                                                          "tokens": 8}] * 3,
                "completions_per_step": 32, "max_completion_length": 512, "peak_device_gb": 10.0,
                "memory_cap_gb": 24, "gpu": "G", "gpu_total_gb": 80, "versions": {}, "settings": {},
                "bench": {"flags": []}, **({"vllm_gpu_memory_utilization": 0.3} if engine == "trl-vllm" else {})}
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps([run("trl", 30.0), run("unsloth", 4.0), run("trl-vllm", 3.0)]))
    assert bench.main(["--table", str(saved), "--output", str(tmp_path / "B.md")]) == 0
    text = (tmp_path / "B.md").read_text()
    assert "| speed-up vs TRL + vLLM | vs TRL + HF generation |" in text
    rows = [line for line in text.splitlines() if line.startswith("| gsm8k_0_5b")]
    # Unsloth first, then TRL with its vLLM, then the floor; each with both ratios
    assert "Unsloth 4-bit LoRA, vLLM generation" in rows[0] and rows[0].endswith("| 0.8× | 7.5× |")
    assert "plain TRL + PEFT, bf16 LoRA, vLLM generation (TRL's, colocated, share 0.3)" in rows[1]
    assert rows[1].endswith("| 1.0× | 10.0× |")
    assert "HF generation" in rows[2] and rows[2].endswith("| 0.1× | 1.0× |")


def test_trl_vllm_needs_the_vllm_package(tmp_path):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    done = subprocess.run([sys.executable, "-m", "recipes.tools.bench", "--engines", "trl-vllm", "--output",
                           str(tmp_path / "B.md")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "--engines trl-vllm needs the vllm package" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "B.md").exists()


def test_table_shows_failed_runs_and_memory_over_the_cap(tmp_path):
    def run(recipe, engine, steps, peak, failed=None):
        return {"recipe": recipe, "engine": engine, "unsloth": engine == "unsloth", "vllm": engine == "unsloth",
                "steps": [{"time": t, "generate": 1.0, "tokens": 8} for t in steps], "completions_per_step": 64,
                "max_completion_length": 1024, "peak_device_gb": peak, "memory_cap_gb": 24, "gpu": "G",
                "gpu_total_gb": 80, "versions": {}, "settings": {}, "bench": {"flags": []},
                **({"failed": failed} if failed else {})}
    oom = "OutOfMemoryError: CUDA out of memory. Tried to allocate 4.65 GiB. GPU 0 has a total capacity of 80 GiB"
    runs = [run("knights_knaves_7b:1", "trl", [], 23.3, oom), run("knights_knaves_7b:1", "unsloth", [60, 44, 45], 24.3)]
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps(runs))
    assert bench.main(["--table", str(saved), "--output", str(tmp_path / "B.md")]) == 0
    rows = [line for line in (tmp_path / "B.md").read_text().splitlines() if line.startswith("| knights")]
    # Unsloth's row first; over the cap is said so; no speed-up against a baseline that failed
    assert "Unsloth" in rows[0] and "44.5 (median of 2)" in rows[0] and "**0.3 GB over**" in rows[0]
    assert rows[0].endswith("| - | TRL + HF generation failed |")  # no TRL + vLLM run to compare with
    # the failure in two sentences, and the memory it reached, not what it had "to spare"
    assert "**failed: OutOfMemoryError: CUDA out of memory. Tried to allocate 4.65 GiB**" in rows[1]
    assert "23.3 GB until it stopped" in rows[1] and "to spare" not in rows[1]


def test_table_shows_the_loading_and_training_peaks_apart(tmp_path):
    run = {"recipe": "temporal_clue_14b", "engine": "unsloth", "unsloth": True, "vllm": True,
           "steps": [{"time": t, "generate": 1.0, "tokens": 8} for t in (120, 114)], "completions_per_step": 4,
           "max_completion_length": 4096, "peak_device_gb": 24.14, "peak_load_gb": 24.14, "peak_train_gb": 22.8,
           "memory_cap_gb": 24, "gpu": "G", "gpu_total_gb": 80, "versions": {}, "settings": {}, "bench": {"flags": []}}
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps([run]))
    assert bench.main(["--table", str(saved), "--output", str(tmp_path / "B.md")]) == 0
    row = next(line for line in (tmp_path / "B.md").read_text().splitlines() if line.startswith("| temporal"))
    assert "24.1 GB (**0.1 GB over**; loading 24.1, training 22.8)" in row
    assert "Unsloth 4-bit LoRA, vLLM generation" in row  # and in bf16 when the run was given --load_in_4bit false:
    saved.write_text(json.dumps([{**run, "bench": {"flags": ["--load_in_4bit", "false"]}}]))
    assert bench.main(["--table", str(saved), "--output", str(tmp_path / "B.md")]) == 0
    assert "| Unsloth bf16 LoRA, vLLM generation `--load_in_4bit false` |" in (tmp_path / "B.md").read_text()
    saved.write_text(json.dumps([{**run, "bench": {"flags": [], "prequantized": True}}]))
    assert bench.main(["--table", str(saved), "--output", str(tmp_path / "B.md")]) == 0
    assert "| Unsloth 4-bit LoRA (pre-quantized checkpoint), vLLM generation |" in (tmp_path / "B.md").read_text()


class FakeCuda:
    """torch.cuda's mem_get_info, answering from a list of (free, total) readings."""

    def __init__(self, readings):
        self.readings = list(readings)

    def mem_get_info(self, device=None):
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def test_memory_peak_restarts_from_the_memory_in_use():
    import types
    peak = gpu_memory.MemoryPeak.__new__(gpu_memory.MemoryPeak)
    peak.torch, peak.peak = types.SimpleNamespace(cuda=FakeCuda([(30, 100)])), 90
    assert peak.restart() == 90  # the peak so far (loading) ...
    assert peak.peak == 70  # ... and training is measured from the 70 in use now, not from the earlier 90


FAKE_TORCH = """
class cuda:
    free = 100 * 2**30

    @staticmethod
    def mem_get_info(device=None):
        return cuda.free, 140 * 2**30

uint8 = "uint8"

def empty(n, dtype=None, device=None):
    cuda.free -= n
"""


def test_the_rest_of_the_gpu_is_held_until_the_run_ends(tmp_path, monkeypatch):
    (tmp_path / "torch.py").write_text(FAKE_TORCH)  # a GPU of 140 GB with 100 free, in the holder's process
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    holder, unavailable, total = gpu_memory.hold_rest_of_gpu(24)
    try:
        assert unavailable == (140 - 24) * 2**30 and total == 140 * 2**30  # 24 GB left: others' 40, the holder's 76
        assert holder.poll() is None  # still holding
    finally:
        holder.stdin.close()  # what the run's end, or its death, does
    assert holder.wait(timeout=30) == 0
    assert gpu_memory.hold_rest_of_gpu(140)[:2] == (None, 0)  # a GPU no bigger than asked: nothing held


def test_the_run_sees_a_gpu_of_the_memory_left_to_it():
    import types
    reading = (20 * 2**30, 140 * 2**30)
    torch = types.SimpleNamespace(cuda=FakeCuda([reading]),
                                  accelerator=types.SimpleNamespace(get_memory_info=lambda device=None: reading))
    gpu_memory.report_total(torch, (140 - 24) * 2**30)
    assert torch.cuda.mem_get_info() == (20 * 2**30, 24 * 2**30)  # as an RTX 3090 with 4 GB in use: Unsloth reads
    assert torch.accelerator.get_memory_info(0) == (20 * 2**30, 24 * 2**30)  # and vLLM reads this one
