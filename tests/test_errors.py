"""What a user sees: bad input ends in one line and exit code 1, a bug in their own code keeps its traceback, the
start is quiet, and each training step prints one short line."""

import http.server
import importlib
import json
import logging
import os
import subprocess
import sys
import threading

import pytest

from recipes import gsm8k_0_5b
from recipes.common.args import one_line_errors, parse_args
from recipes.common.training import step_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFLINE = {"HF_HUB_OFFLINE": "1"}


def run_recipe(module: str, argv: list[str], env: dict | None = None, code: str | None = None):
    """A recipe run as a user starts it: its own process, from the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | (OFFLINE if env is None else env)
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", module]
    return subprocess.run([*command, *argv], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def assert_one_line(done, line: str, alone: bool = True):
    """Exit code 1 and `line` as the last line on stderr; with `alone`, nothing else there (no usage, no warning)."""
    err = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and err[-1] == line, done.stderr[-3000:]
    if alone:
        assert len(err) == 1, done.stderr[-3000:]


def exit_line(main, *args) -> str:
    """The line a run ends with when `one_line_errors` stops it, in this process: SystemExit's message, which Python
    prints to stderr before it exits with code 1."""
    with pytest.raises(SystemExit) as stop:
        one_line_errors(main, *args)
    return stop.value.code


def recipe_a(argv: list[str]):
    return lambda: gsm8k_0_5b.main(*parse_args(gsm8k_0_5b.DEFAULTS, argv))


# --- flags and --config: refused before anything loads --------------------------------------------------------------

def test_a_bad_flag_value_is_one_line_not_the_usage():
    assert_one_line(run_recipe("recipes.gsm8k_0_5b", ["--learning_rate", "abc"]),
                    "error: argument --learning_rate/--learning-rate: invalid float value: 'abc' (--help lists the "
                    "flags)")


def test_a_config_file_that_does_not_parse_names_its_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rate: 1e-5\nmax_steps: [1\nbeta: 0\n")
    assert_one_line(run_recipe("recipes.gsm8k_0_5b", ["--config", str(path)]),
                    f"error: {path}, line 3: not valid YAML (expected ',' or ']', but got ':')")


@pytest.mark.parametrize("flags, line", [
    (["--no_such_flag", "1"], "unknown flags or --config keys: --no_such_flag 1 (--help lists the flags)"),
    (["--eval_limit", "-1"], "--eval_limit must be at least 1, not -1 (--skip_eval skips the evaluation)"),
    (["--eval_limit", "0"], "--eval_limit must be at least 1, not 0 (--skip_eval skips the evaluation)"),
    (["--num_generations", "3"], "generation_batch_size (32) must be divisible by num_generations (3)."),
])
def test_a_bad_flag_is_one_line(capsys, flags, line):
    assert exit_line(recipe_a(flags)) == f"error: {line}"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("yaml, line", [
    ("max_steps: abc\n", "argument --max_steps/--max-steps: invalid int value: 'abc' (--help lists the flags)"),
    ("no_such_key: 1\n", "unknown flags or --config keys: --no_such_key 1 (--help lists the flags)"),
    ("- a list\n", "Config file {path} must contain a YAML mapping."),
    (None, "cannot read --config {path}: No such file or directory"),
])
def test_a_bad_config_file_is_one_line(tmp_path, capsys, yaml, line):
    path = tmp_path / "run.yaml"
    if yaml is not None:
        path.write_text(yaml)
    assert exit_line(recipe_a(["--config", str(path)])) == "error: " + line.format(path=path)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("recipe, flags, line", [
    ("knights_knaves_7b", ["--stage", "two"], "argument --stage: invalid int value: 'two' (--help lists the flags)"),
    ("tools.evaluate", ["--recipe", "nope"],
     "argument --recipe: invalid choice: 'nope' (choose from 'countdown_3b', 'demo_smollm2', 'gsm8k_0_5b', "
     "'gsm8k_1_5b', 'knights_knaves_7b', 'temporal_clue_14b') (--help lists the flags)"),
    ("tools.evaluate", ["--eval_limit", "-2"],
     "--eval_limit must be at least 1, not -2 (--skip_eval skips the evaluation)"),
    ("temporal_clue_14b", ["--puzzles", "many"],
     "argument --puzzles: invalid int value: 'many' (--help lists the flags)"),
    ("countdown_3b", ["--puzzles", "-3"], "--puzzles must be at least 1, not -3"),
])
def test_every_recipe_parser_answers_in_one_line(capsys, recipe, flags, line):
    module = importlib.import_module(f"recipes.{recipe}")
    if recipe.startswith("tools."):  # a tool's main takes its command line
        assert exit_line(module.main, flags) == f"error: {line}"
    else:  # a recipe's, what `run` parses
        assert exit_line(lambda: module.main(*parse_args(module.DEFAULTS, flags, module.ExtraArguments))) == \
            f"error: {line}"
    assert capsys.readouterr().err == ""


# --- models: an unknown hub id, a hub that fails or is out of reach (a missing folder: test_recipes.py) -------------

class FakeHub(http.server.BaseHTTPRequestHandler):
    """A hub that answers every request with the server's `status` (404: the hub's "no such repository")."""

    def do_GET(self):
        self.send_response(self.server.status)
        if self.server.status == 404:
            self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize("status, line", [
    (404, "error: no folder nobody/no-such-model here, and no model 'nobody/no-such-model' on the Hugging Face hub (a "
          "private one needs `hf auth login`)"),
    (500, "error: the Hugging Face hub refused 'nobody/no-such-model': Server error '500 Internal Server Error' for "
          "url '{url}/api/models/nobody/no-such-model'"),
])
def test_an_unknown_hub_id_or_a_hub_error_is_one_line(fake_hub, status, line):
    fake_hub.status = status
    url = f"http://127.0.0.1:{fake_hub.server_port}"
    done = run_recipe("recipes.gsm8k_0_5b", ["--model_name_or_path", "nobody/no-such-model"], env={"HF_ENDPOINT": url})
    assert_one_line(done, line.format(url=url))


def test_an_unreachable_hub_fails_at_once_with_the_offline_hint():
    # nothing listens on port 9: the first connection fails, and no retries follow (the hub's client makes five,
    # over more than a minute, when transformers asks it for the files)
    done = run_recipe("recipes.gsm8k_0_5b", ["--model_name_or_path", "Qwen/Qwen2.5-0.5B-Instruct"],
                      env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert_one_line(done, "error: cannot reach the Hugging Face hub for 'Qwen/Qwen2.5-0.5B-Instruct' ([Errno 111] "
                          "Connection refused): without a network, set HF_HUB_OFFLINE=1 to use the local cache, or "
                          "pass a local folder")
    assert "Retrying" not in done.stdout + done.stderr


def test_offline_a_model_that_is_not_cached_is_one_line(tmp_path):
    done = run_recipe("recipes.gsm8k_0_5b", ["--model_name_or_path", "nobody/no-such-model"],
                      env={**OFFLINE, "HF_HOME": str(tmp_path)})  # an empty cache
    assert_one_line(done, "error: no folder nobody/no-such-model here, and HF_HUB_OFFLINE=1 allows only models in the "
                          "local cache: pass a local folder, or download the model once where the hub is reachable")


# --- data files: the file and row of what is wrong ------------------------------------------------------------------

def test_a_broken_line_names_the_file_and_row(tiny_model, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"question": "Q1?", "answer": "#### 1"}\n{"question": "Q2?", "answer": "#### 2"\n')
    done = run_recipe("recipes.gsm8k_0_5b", ["--model_name_or_path", tiny_model, "--dataset_name", str(path)])
    assert_one_line(done, f"error: {path}, row 2: not JSON (Expecting ',' delimiter, column 39)",
                    alone=False)  # the model's loading bar is there before it


@pytest.mark.parametrize("text, line", [
    ("", "{path}: empty file"),
    ('{"question": "Q1?", "answer": "1"}\n{"question": "Q2?", "answer": "2"}\n',
     "{path}: no usable rows (2 dropped: no '####' answer)"),
])
def test_a_file_with_nothing_to_train_on_stops_the_run(tiny_model, tmp_path, text, line):
    path = tmp_path / "train.jsonl"
    path.write_text(text)
    out = tmp_path / "run"
    argv = ["--model_name_or_path", tiny_model, "--dataset_name", str(path), "--output_dir", str(out)]
    assert exit_line(recipe_a(argv)) == "error: " + line.format(path=path)
    assert not out.exists()  # no evaluation of 0 questions, no adapter trained on nothing


def test_a_bad_puzzle_file_is_one_line(tmp_path):
    from recipes import temporal_clue_14b

    path = tmp_path / "test.json"
    path.write_text("")
    argv = ["--clue_test_dir", str(path)]
    assert exit_line(lambda: temporal_clue_14b.main(*parse_args(temporal_clue_14b.DEFAULTS, argv,
                                                                temporal_clue_14b.ExtraArguments))) == \
        f"error: {path}: empty file"


def test_settings_that_grpotrainer_refuses_are_one_line(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", [{"question": "Q?", "answer": "#### 1"}] * 4)
    argv = ["--model_name_or_path", tiny_model, "--dataset_name", data, "--output_dir", str(tmp_path / "run"),
            "--skip_eval", "--reward_weights", "1", "2", "3"]
    line = exit_line(recipe_a(argv))
    assert line.startswith("error: GRPOTrainer: Number of reward weights (3) must match number of reward functions")
    assert "\n" not in line


# --- a bug in the user's own code keeps its traceback ---------------------------------------------------------------

BUGGY_REWARD = """
from recipes import gsm8k_0_5b as recipe
from recipes.common.args import run

def my_reward(completions, **kwargs):
    raise ValueError("my reward has a bug")

recipe.REWARDS[:] = [my_reward]
run(recipe.main, recipe.DEFAULTS)
"""


def test_an_error_in_a_reward_function_shows_its_traceback(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", [{"question": "Q?", "answer": "#### 1"}] * 4)
    done = run_recipe("", ["--model_name_or_path", tiny_model, "--dataset_name", data,
                           "--output_dir", str(tmp_path / "run"), "--skip_eval", "--max_steps", "1",
                           "--max_completion_length", "4", "--num_generations",
                           "2", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"],
                      code=BUGGY_REWARD)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and ", in my_reward" in done.stderr
    assert "ValueError: my reward has a bug" in done.stderr.splitlines()


# --- a quiet start --------------------------------------------------------------------------------------------------

def test_starting_a_recipe_prints_nothing():
    # bitsandbytes, on a CPU with AVX512-BF16, would say it failed to load a kernel from the hub's kernels-community
    done = run_recipe("", [], code="import recipes.gsm8k_0_5b, recipes.demo_smollm2, bitsandbytes, torchao, peft")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


# What torch 2.13, torchao 0.18 and bitsandbytes 0.50.2 said when a recipe started on a CPU.
NOISE = [
    ("torchao", "Failed to load /venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: "
                "Could not load this library: /venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-"
                "linux-gnu.so"),
    ("torch.utils._pytree", "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by "
                            "torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is "
                            "deprecated and will be an error in a future release."),
    ("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward from kernels-community: No module named "
                                      "'kernels'. Please make sure you already `pip install kernels` and the kernels "
                                      ">= 0.11.1"),
]


@pytest.mark.parametrize("name, message", NOISE, ids=[name for name, _ in NOISE])
def test_known_noise_is_dropped_and_other_messages_still_show(name, message):
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        logger.warning(message)
        logger.warning("Failed to load a checkpoint: disk full")
    finally:
        logger.removeHandler(handler)
    assert seen == ["Failed to load a checkpoint: disk full"]


# --- one line a training step ---------------------------------------------------------------------------------------

def test_a_step_is_one_line_of_the_numbers_to_watch():
    logs = {"loss": 0.01, "grad_norm": 0.3, "completions/mean_length": 41.5, "completions/clipped_ratio": 0.25,
            "rewards/correctness_reward/mean": 0.5, "rewards/correctness_reward/std": 0.5,
            "rewards/single_answer_reward/mean": 0.75, "reward": 1.25, "reward_std": 0.4, "entropy": 1.2}
    assert step_line(logs, 3, 30) == ("[train] step 3/30: reward 1.250 (correctness_reward 0.500, "
                                             "single_answer_reward 0.750), length 41.5 tokens, truncated 25 %")
    assert step_line({"train_runtime": 18.62, "train_loss": 0.0}, 30, 30) == "[train] 30 steps in 18.6 s"


@pytest.mark.parametrize("disable_tqdm", ["false", "true"])
def test_training_prints_step_lines_not_the_metrics_dict(tiny_model, tmp_path, capsys, disable_tqdm):
    data = write_jsonl(tmp_path / "train.jsonl", [{"question": f"Q{i}?", "answer": f"#### {i}"} for i in range(4)])
    argv = ["--model_name_or_path", tiny_model, "--dataset_name", data, "--output_dir", str(tmp_path / "run"),
            "--skip_eval", "--max_steps", "2", "--max_completion_length", "4", "--num_generations", "2",
            "--logging_steps", "1",
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--disable_tqdm", disable_tqdm]
    gsm8k_0_5b.main(*parse_args(gsm8k_0_5b.DEFAULTS, argv))
    printed = capsys.readouterr()
    steps = [line for line in printed.out.splitlines() if line.startswith("[train] step")]
    assert [line.split(":")[0] for line in steps] == ["[train] step 1/2", "[train] step 2/2"]
    assert all("(custom_reward " in line and "tokens, truncated" in line for line in steps)
    assert "completions/mean_length" not in printed.out + printed.err  # TRL's dict
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    assert {"completions/mean_length", "rewards/custom_reward/std", "entropy"} <= set(history[0])  # all of it, kept
