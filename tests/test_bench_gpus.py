"""The several-GPU benchmark (recipes/tools/bench_gpus.py), on the CPU: real launches through the launcher's --cpu
path (DDP over gloo, two processes), their steps read back, a failed launch kept with its last line, a saved run
not run again, and each GPU's peak read from nvidia-smi (a stand-in here)."""

import json
import os

import pytest

from recipes.tools import bench_gpus


@pytest.fixture(scope="module")
def word_problems(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("word-problems")
    for split, offset in (("train", 0), ("test", 20)):
        rows = [{"question": f"Tom has {a} pens and buys {a + 2} more. How many pens does he have?",
                 "answer": f"#### {2 * a + 2}"} for a in range(offset, offset + 20)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(folder)


def flags(data: str) -> list[str]:
    return ["--", "--dataset_name", data, "--max_prompt_tokens", "1024", "--max_completion_length", "12",
            "--lora_r", "8", "--lora_alpha", "16", "--num_generations", "2", "--per_device_train_batch_size", "2",
            "--gradient_accumulation_steps", "2"]


@pytest.fixture(scope="module")
def measured(tiny_model, word_problems, tmp_path_factory):
    """A LoRA run and a full fine-tune of recipe A, each 2 steps on 2 CPU processes."""
    tmp = tmp_path_factory.mktemp("bench-gpus")
    runs, table = tmp / "runs.json", tmp / "table.md"
    code = bench_gpus.main(["--cpu", "--gpus", "2", "--ways", "ddp", "--weights", "lora", "full", "--recipes",
                            "gsm8k_0_5b", "--model_name_or_path", tiny_model, "--steps", "2", "--runs", str(runs),
                            "--output", str(table), "--logs", str(tmp / "logs"), *flags(word_problems)])
    return code, json.loads(runs.read_text()), table.read_text(), tmp


def test_each_launch_is_measured_step_by_step(measured):
    code, runs, table, _ = measured
    assert code == 0
    assert [(r["recipe"], r["way"], r["weights"]) for r in runs] == [("gsm8k_0_5b", "ddp", "lora"),
                                                                     ("gsm8k_0_5b", "ddp", "full")]
    for run in runs:
        assert "failed" not in run, run
        assert run["completions_per_step"] == 2 * 2 * 2  # 2 at a time x 2 accumulated, on each of 2 processes
        assert len(run["steps"]) == 2
        for step in run["steps"]:
            assert 0 < step["generate"] < step["time"]
            assert 0 < step["tokens"] <= 12 * run["completions_per_step"]
        assert run["peak_mib_per_gpu"] is None  # no GPU, no nvidia-smi
        assert "--use_peft false" in run["command"] if run["weights"] == "full" else "--use_peft" not in run["command"]
    rows = [line for line in table.splitlines() if line.startswith("| gsm8k_0_5b")]
    assert len(rows) == 2 and all("| DDP, HF generation, 2 training |" in row for row in rows)
    assert "| bf16 LoRA | 8 |" in rows[0] and "| every weight (bf16) | 8 |" in rows[1]


def test_saved_runs_make_the_table_and_are_not_run_again(measured, monkeypatch, tmp_path):
    _, runs, table, tmp = measured
    assert bench_gpus.main(["--table", str(tmp / "runs.json"), "--output", str(tmp_path / "again.md")]) == 0
    assert (tmp_path / "again.md").read_text() == table

    def not_again(*_):
        raise AssertionError("a saved run ran again")

    monkeypatch.setattr(bench_gpus, "run_one", not_again)
    assert bench_gpus.main(["--cpu", "--gpus", "2", "--ways", "ddp", "--weights", "lora", "full", "--recipes",
                            "gsm8k_0_5b", "--model_name_or_path", "unused", "--runs", str(tmp / "runs.json"),
                            "--resume"]) == 0


def test_saved_runs_are_not_overwritten_without_resume(measured, capsys):
    _, runs, _, tmp = measured
    with pytest.raises(SystemExit) as stop:
        bench_gpus.main(["--cpu", "--gpus", "2", "--ways", "ddp", "--recipes", "gsm8k_0_5b", "--model_name_or_path",
                         "unused", "--runs", str(tmp / "runs.json")])
    assert stop.value.code == 2 and json.loads((tmp / "runs.json").read_text()) == runs
    assert "already exists: add --resume" in capsys.readouterr().err


def test_a_launch_that_fails_is_kept_with_its_last_line(tiny_model, tmp_path):
    runs = tmp_path / "runs.json"
    missing = tmp_path / "nowhere" / "train.jsonl"
    code = bench_gpus.main(["--cpu", "--gpus", "2", "--ways", "ddp", "--weights", "lora", "--recipes", "gsm8k_0_5b",
                            "--model_name_or_path", tiny_model, "--steps", "2", "--runs", str(runs), "--logs",
                            str(tmp_path / "logs"), *flags(str(missing))])
    assert code == 1
    [run] = json.loads(runs.read_text())
    assert run["steps"] == [] and run["failed"].startswith(f"error: no GSM8K file at {missing}")
    assert os.path.isfile(run["log"])
    assert "**failed: error: no GSM8K file" in bench_gpus.table([run])


def test_each_gpus_peak_comes_from_nvidia_smi(tmp_path, monkeypatch):
    readings = tmp_path / "readings"
    readings.write_text("0, 100\n1, 2000\n")
    smi = tmp_path / "nvidia-smi"  # each call prints the next reading, then the last one again
    smi.write_text(f"#!/bin/sh\ncat {readings}\necho '0, 900\n1, 1500' > {readings}\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    peaks = bench_gpus.GpuPeaks(interval=0.05)
    peaks.start()
    for _ in range(200):
        if peaks.peaks.get("0") == 900:
            break
        peaks.done.wait(0.05)
    assert peaks.stop() == {"0": 900, "1": 2000}


def test_a_crash_is_named_by_its_exception_not_by_torchs_launcher(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("[rank0]: Traceback (most recent call last):\n"
                   "[rank0]:   File \"x.py\", line 1, in <module>\n"
                   "[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.65 GiB.\n"
                   "Traceback (most recent call last):\n"
                   "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
                   "recipes.knights_knaves_7b FAILED\n" + "=" * 60 + "\n")
    assert bench_gpus.failure_line(log, 1) == "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.65 GiB."
    log.write_text("nothing to go on\n")
    assert bench_gpus.failure_line(log, 137) == "exit code 137"

