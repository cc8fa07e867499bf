"""Runs and their folders, for every recipe: a new run never writes into a folder that holds another; `last` resumes
from the newest complete checkpoint; Ctrl-C and SIGTERM save a checkpoint at the end of the step and end with one
line that says how to continue (the demo recipe on a tiny model, on the CPU)."""

import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from transformers import TrainerCallback

from recipes import demo_smollm2, knights_knaves_7b
from recipes.common.args import one_line_errors, parse_args
from recipes.common.model import load_model
from recipes.common.training import train
from recipes.common.checkpoints import check_output_dir, newest_checkpoint, resume_checkpoint
from recipes.errors import RecipeError
from recipes.tools.catalog import recipe_names

ROOT = Path(__file__).resolve().parents[1]
RECIPES = recipe_names()


def refusal(folder) -> str:
    return (f"error: {folder} already holds a run: continue it with --resume_from_checkpoint last, or start a new run "
            "with another --output_dir")


def earlier_run(folder: Path) -> dict:
    """A finished run's files, as a recipe leaves them; returns their contents, to check they are left alone."""
    files = {"eval_before.json": '{"accuracy": 12.5}', "log_history.json": "[1, 2]",
             "checkpoint-2/trainer_state.json": '{"global_step": 2}', "adapter/adapter_config.json": "{}"}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return files


def run_as_main(recipe: str, monkeypatch, *argv) -> SystemExit:
    """`python -m recipes.<recipe> ARGV`, in this process: the SystemExit it ends with."""
    monkeypatch.setattr(sys, "argv", [recipe, *argv])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module(f"recipes.{recipe}", run_name="__main__")
    return exit_.value


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # a recipe imported by another test
@pytest.mark.parametrize("recipe", RECIPES)
def test_a_new_run_refuses_a_folder_that_holds_a_run(recipe, tmp_path, monkeypatch):
    files = earlier_run(tmp_path)
    # refused before the model loads: the model named here does not exist
    ended = run_as_main(recipe, monkeypatch, "--output_dir", str(tmp_path),
                        "--model_name_or_path", str(tmp_path / "no-model"))
    assert ended.code == refusal(tmp_path)
    assert {name: (tmp_path / name).read_text() for name in files} == files
    assert sorted(os.listdir(tmp_path)) == ["adapter", "checkpoint-2", "eval_before.json", "log_history.json"]


def test_the_refusal_is_one_line_and_exit_status_1(tmp_path):
    earlier_run(tmp_path)
    done = subprocess.run([sys.executable, "-m", "recipes.gsm8k_0_5b", "--output_dir", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == refusal(tmp_path)


def test_a_new_run_takes_an_empty_or_new_folder_and_a_resumed_run_its_own(tmp_path):
    _, cfg = parse_args(demo_smollm2.DEFAULTS, ["--output_dir", str(tmp_path / "new")])
    check_output_dir(cfg)  # a folder that does not exist yet
    (tmp_path / "new").mkdir()
    check_output_dir(cfg)  # an empty one
    earlier_run(tmp_path / "new")
    with pytest.raises(RecipeError, match="already holds a run"):
        check_output_dir(cfg)
    for resume in ("last", str(tmp_path / "new" / "checkpoint-2")):  # continuing the run in the folder
        cfg.resume_from_checkpoint = resume
        check_output_dir(cfg)
    # continuing another folder's checkpoint here would mix two runs in one folder
    cfg.resume_from_checkpoint = str(tmp_path / "elsewhere" / "checkpoint-2")
    with pytest.raises(RecipeError, match="already holds a run"):
        check_output_dir(cfg)


def kk(tmp_path, *argv):
    argv = ["--output_dir", str(tmp_path), "--model_name_or_path", str(tmp_path / "no-model"), *argv]
    return knights_knaves_7b.main(*parse_args(knights_knaves_7b.DEFAULTS, argv, knights_knaves_7b.ExtraArguments))


@pytest.mark.parametrize("argv, held, refused", [
    ([], "stage-1", "."),  # all three stages start at stage 1: the whole folder must be free
    (["--stage", "1"], "eval_before.json", "."),
    (["--stage", "2"], "stage-2", "stage-2"),  # stage 2 again, over the one there
    (["--stage", "2"], "stage-3", "stage-3"),  # stage 3 was trained from the stage 2 this run would replace
    (["--stage", "3"], "stage-3", "stage-3"),
])
def test_knights_and_knaves_refuses_the_folders_a_new_run_would_overwrite(argv, held, refused, tmp_path):
    (tmp_path / "stage-1" / "adapter").mkdir(parents=True)  # stage 1 done: what stages 2 and 3 start from
    (tmp_path / "stage-1" / "adapter" / "adapter_config.json").write_text("{}")
    if held.startswith("stage-"):
        (tmp_path / held / "checkpoint-1").mkdir(parents=True)
    else:
        (tmp_path / held).write_text("{}")
    with pytest.raises(RecipeError) as error:
        kk(tmp_path, *argv)
    assert f"error: {error.value}" == refusal(os.path.normpath(tmp_path / refused))


def test_knights_and_knaves_starts_a_later_stage_beside_the_earlier_ones(tmp_path):
    (tmp_path / "stage-1" / "adapter").mkdir(parents=True)  # stage 1 done, stage 2 not started
    (tmp_path / "stage-1" / "adapter" / "adapter_config.json").write_text("{}")
    (tmp_path / "eval_before.json").write_text("{}")
    with pytest.raises(RecipeError, match="no such folder: .*no-model"):  # past the folder check, to the model
        kk(tmp_path, "--stage", "2", "--skip_eval")


def checkpoint(folder: Path, step: int, state: str | None = '{"global_step": 0}', weights: bool = True) -> None:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    if weights:
        (path / "adapter_model.safetensors").write_bytes(b"weights")


def test_last_is_the_newest_complete_checkpoint_by_step_number(tmp_path, capsys):
    checkpoint(tmp_path, 9)
    checkpoint(tmp_path, 10)  # newer than 9, though "checkpoint-10" < "checkpoint-9" as text
    checkpoint(tmp_path, 11, state=None)  # a kill while saving: the state is written last
    checkpoint(tmp_path, 12, state='{"global_st')  # cut short while written
    checkpoint(tmp_path, 13, weights=False)
    assert newest_checkpoint(str(tmp_path)) == (str(tmp_path / "checkpoint-10"), [
        f"{tmp_path / 'checkpoint-13'} (no model or adapter weights)",
        f"{tmp_path / 'checkpoint-12'} (trainer_state.json is cut short)",
        f"{tmp_path / 'checkpoint-11'} (no trainer_state.json)"])

    _, cfg = parse_args(demo_smollm2.DEFAULTS, ["--output_dir", str(tmp_path), "--resume_from_checkpoint", "last"])
    assert resume_checkpoint(cfg) == str(tmp_path / "checkpoint-10")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (f"[train] passing over the incomplete {tmp_path / 'checkpoint-13'} (no model or adapter "
                          "weights)")
    assert len(printed) == 3 and "checkpoint-11 (no trainer_state.json)" in printed[2]
    checkpoint(tmp_path, 14)  # saved meanwhile: the run keeps the checkpoint it settled on, and says so once
    assert resume_checkpoint(cfg) == str(tmp_path / "checkpoint-10") and capsys.readouterr().out == ""


def test_resuming_needs_a_complete_checkpoint(tmp_path):
    _, cfg = parse_args(demo_smollm2.DEFAULTS, ["--output_dir", str(tmp_path / "run"), "--resume_from_checkpoint",
                                                "last"])
    with pytest.raises(RecipeError, match=r"no checkpoint to resume from in .*run: leave out --resume_from_checkpoint"):
        resume_checkpoint(cfg)
    checkpoint(tmp_path / "run", 2, state=None)
    with pytest.raises(RecipeError, match=r"no complete checkpoint to resume from in .*run: start a new run with "
                                          r"another --output_dir"):
        resume_checkpoint(cfg)
    cfg.resume_from_checkpoint = str(tmp_path / "run" / "checkpoint-2")
    with pytest.raises(RecipeError, match=r"cannot resume from .*checkpoint-2: no trainer_state.json"):
        resume_checkpoint(cfg)


# --- End to end: the demo recipe on the tiny model, on the CPU ----------------------------------------------------

def demo_argv(tiny_model, out, *extra) -> list[str]:
    """The demo recipe on the tiny model: steps of 2 problems x 2 answers of 8 tokens, a checkpoint every 2 steps."""
    return ["--model_name_or_path", tiny_model, "--output_dir", str(out), "--skip_eval", "--max_completion_length", "8",
            "--lora_r", "8", "--lora_alpha", "16", "--per_device_train_batch_size", "4", "--num_generations", "2",
            "--save_steps", "2", "--logging_steps", "1", *extra]


def logged_steps(out: Path) -> list[int]:
    return [h["step"] for h in json.loads((out / "log_history.json").read_text()) if "reward" in h]


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
def test_a_save_cut_short_is_passed_over_and_the_finished_run_is_kept(tiny_model, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    demo_smollm2.main(*parse_args(demo_smollm2.DEFAULTS, demo_argv(tiny_model, out, "--max_steps", "4")))
    os.remove(out / "checkpoint-4" / "trainer_state.json")  # what a kill while saving checkpoint-4 leaves
    capsys.readouterr()
    demo_smollm2.main(*parse_args(demo_smollm2.DEFAULTS, demo_argv(
        tiny_model, out, "--max_steps", "5", "--resume_from_checkpoint", "last")))
    printed = capsys.readouterr().out
    assert f"[train] passing over the incomplete {out / 'checkpoint-4'} (no trainer_state.json)" in printed
    assert f"[train] resuming from {out / 'checkpoint-2'}" in printed
    assert logged_steps(out) == [1, 2, 3, 4, 5]

    # the same command again, without --resume_from_checkpoint: refused, the finished run left as it is
    finished = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    ended = run_as_main("demo_smollm2", monkeypatch, *demo_argv(tiny_model, out, "--max_steps", "5"))
    assert ended.code == refusal(out)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == finished


@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_signal_saves_a_checkpoint_at_the_end_of_the_step_and_the_run_resumes_from_it(signum, name, tiny_model,
                                                                                          tmp_path, capsys):
    out, log = tmp_path / "run", tmp_path / "stderr.txt"
    with open(log, "w") as stderr_file:
        training = subprocess.Popen([sys.executable, "-m", "recipes.demo_smollm2",
                                     *demo_argv(tiny_model, out, "--max_steps", "200")],
                                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr_file,
                                    env={**os.environ, "HF_HUB_OFFLINE": "1"})
        deadline = time.monotonic() + 300
        while not (out / "checkpoint-2" / "trainer_state.json").is_file():  # training is under way
            assert training.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        training.send_signal(signum)
        training.wait(timeout=300)
    stderr = log.read_text()

    assert training.returncode == 128 + signum and "Traceback" not in stderr
    assert f"[train] {name}: saving a checkpoint at the end of this step, then stopping" in stderr
    last = stderr.strip().splitlines()[-1]
    stop = re.fullmatch(rf"\[train\] stopped by {name} at step (\d+), saved in (.+): to continue, run the same "
                        r"command with --resume_from_checkpoint last", last)
    assert stop, stderr[-3000:]
    step, saved = int(stop[1]), stop[2]
    assert saved == str(out / f"checkpoint-{step}") and 2 < step < 200  # saved when stopped, not at step 2
    assert newest_checkpoint(str(out)) == (saved, [])  # complete, and the newest
    assert json.loads((out / f"checkpoint-{step}" / "trainer_state.json").read_text())["global_step"] == step
    assert not (out / "adapter").exists()  # the run is not finished: nothing says it is

    capsys.readouterr()
    demo_smollm2.main(*parse_args(demo_smollm2.DEFAULTS, demo_argv(
        tiny_model, out, "--max_steps", str(step + 2), "--resume_from_checkpoint", "last")))
    assert f"[train] resuming from {saved}" in capsys.readouterr().out
    assert logged_steps(out) == list(range(1, step + 3))  # each step once: none lost, none repeated
    assert (out / "adapter" / "adapter_config.json").is_file()


class CtrlCTwice(TrainerCallback):
    """Presses Ctrl-C twice at the end of step 3, as an impatient user does."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)


def test_a_second_ctrl_c_stops_at_once_and_names_the_newest_checkpoint(tiny_model, tmp_path, capfd):
    from trl import GRPOTrainer

    from data import arithmetic

    out = tmp_path / "run"
    args, cfg = parse_args(demo_smollm2.DEFAULTS, demo_argv(tiny_model, out, "--max_steps", "6"))
    model, tokenizer = load_model(args, cfg)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[demo_smollm2.correctness_reward],
                          args=cfg, train_dataset=arithmetic.load(24, 0, demo_smollm2.SYSTEM_PROMPT))
    trainer.add_callback(CtrlCTwice())
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as ended:
        train(trainer, args, cfg)
    assert ended.value.code == 130
    assert capfd.readouterr().err.strip().splitlines()[-1] == (
        f"[train] stopped by Ctrl-C at step 3; the newest checkpoint is {out / 'checkpoint-2'}: to continue, run the "
        "same command with --resume_from_checkpoint last")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # as they were
    assert not (out / "checkpoint-3").exists() and not (out / "adapter").exists()


def test_ctrl_c_outside_training_is_one_line(capfd):
    def evaluating():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as ended:
        one_line_errors(evaluating)
    assert ended.value.code == 130 and capfd.readouterr().err == "stopped by Ctrl-C\n"
