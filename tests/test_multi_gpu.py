"""More GPUs: the shipped accelerate configs as accelerate reads them, the launch commands, the vLLM server's start,
wait and stop (with a stand-in server), the recipes' settings under accelerate, and real multi-process runs on the
CPU: two processes on one machine, and two machines of one process each on this one."""

import importlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from recipes import gsm8k_0_5b, knights_knaves_7b
from recipes.common import args as recipe_args
from recipes.common import processes, stages, start
from recipes.common.args import parse_args
from recipes.errors import RecipeError
from recipes.tools import launch
from recipes.tools.catalog import recipe_names
from recipes.tools.launch import CONFIGS, LaunchError, Plan, build_plan, execute, vllm_server

ROOT = Path(__file__).resolve().parents[1]


# --- The accelerate configs -------------------------------------------------------------------------------------

def accelerate_env(dist: str, *flags: str) -> tuple[dict, object]:
    """The environment `accelerate launch --config_file recipes/accelerate/<dist>.yaml` gives its processes, and the
    torchrun arguments it passes on."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(CONFIGS / f"{dist}.yaml"), *flags, "x.py"])
    args, config, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(config.deepspeed_config)  # as launch_command does
        return prepare_deepspeed_cmd_env(args)[1], args
    return prepare_multi_gpu_env(args), args


def test_there_is_one_config_per_dist():
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(launch.DISTS)


def test_fsdp2_config_shards_with_fsdp2_and_loads_on_every_gpu():
    env, _ = accelerate_env("fsdp2", "--num_processes", "4")
    assert (env["ACCELERATE_USE_FSDP"], env["FSDP_VERSION"], env["ACCELERATE_MIXED_PRECISION"]) == ("true", "2", "bf16")
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"  # whole adapters, as on one GPU
    assert env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "false"  # every process has the model for the first evaluation
    assert env["FSDP_ACTIVATION_CHECKPOINTING"] == "false"  # GRPOConfig's gradient checkpointing does it


def test_zero3_config_is_deepspeed_stage_3():
    env, _ = accelerate_env("zero3", "--num_processes", "4")
    assert (env["ACCELERATE_USE_DEEPSPEED"], env["ACCELERATE_DEEPSPEED_ZERO_STAGE"]) == ("true", "3")
    assert env["ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL"] == "true"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_ddp_config_is_plain_data_parallel():
    env, args = accelerate_env("ddp", "--num_processes", "4")
    assert args.multi_gpu and args.nproc_per_node == "4"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert "ACCELERATE_USE_FSDP" not in env and "ACCELERATE_USE_DEEPSPEED" not in env


@pytest.mark.parametrize("dist", launch.DISTS)
def test_configs_take_accelerates_multi_machine_flags(dist):
    _, args = accelerate_env(dist, "--num_processes", "16", "--num_machines", "2", "--machine_rank", "1",
                             "--main_process_ip", "10.0.0.1", "--main_process_port", "29501")
    assert (args.nnodes, args.nproc_per_node, args.node_rank) == ("2", "8", 1)
    assert (args.rdzv_backend, args.rdzv_endpoint) == ("static", "10.0.0.1:29501")


# --- The launch commands ----------------------------------------------------------------------------------------

def plan(argv, environ=None) -> Plan:
    return build_plan(launch.parse(argv), environ or {})


def after(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_gpus_become_processes_under_the_chosen_config():
    p = plan(["--gpus", "4", "gsm8k_1_5b", "--max_steps", "5"])
    assert p.training[:3] == [sys.executable, "-m", "recipes.tools.accelerate_launch"]
    assert after(p.training, "--config_file") == str(CONFIGS / "fsdp2.yaml")  # the default
    assert (after(p.training, "--num_processes"), after(p.training, "--num_machines")) == ("4", "1")
    assert p.training[-4:] == ["-m", "recipes.gsm8k_1_5b", "--max_steps", "5"]
    assert (p.training_env["CUDA_VISIBLE_DEVICES"], p.training_env["GRPO_ENGINE"]) == ("0,1,2,3", "trl")
    assert p.server is None and "--use_vllm" not in p.training
    assert after(plan(["--gpus", "2", "--dist", "zero3", "gsm8k_0_5b"]).training, "--config_file").endswith(
        "zero3.yaml")


def test_a_vllm_server_takes_the_first_gpus_and_training_the_rest():
    p = plan(["--gpus", "4", "--vllm_gpus", "1", "--vllm_port", "8123", "knights_knaves_7b", "--stage", "1"])
    assert p.server_env["CUDA_VISIBLE_DEVICES"] == "0" and p.training_env["CUDA_VISIBLE_DEVICES"] == "1,2,3"
    assert after(p.training, "--num_processes") == "3"
    assert p.server[:3] == [sys.executable, "-m", "trl.scripts.vllm_serve"]
    assert after(p.server, "--model") == knights_knaves_7b.DEFAULTS["model_name_or_path"]
    assert after(p.server, "--max_model_len") == "1536"  # the recipe's prompt + completion
    assert (after(p.server, "--tensor_parallel_size"), after(p.server, "--port")) == ("1", "8123")
    recipe_flags = p.training[p.training.index("recipes.knights_knaves_7b") + 1:]
    assert recipe_flags == ["--use_vllm", "true", "--vllm_mode", "server", "--vllm_server_host", "127.0.0.1",
                            "--vllm_server_port", "8123", "--load_in_4bit", "false",
                            "--stage", "1"]  # the user's flags last: they win
    assert p.server_url == "http://127.0.0.1:8123"


def test_one_training_gpu_beside_the_server_runs_the_recipe_as_on_one_gpu():
    p = plan(["--gpus", "2", "--vllm_gpus", "1", "--dist", "zero3", "gsm8k_0_5b", "--max_steps", "5"])
    assert p.training[:3] == [sys.executable, "-m", "recipes.gsm8k_0_5b"] and p.training[-2:] == ["--max_steps", "5"]
    assert "--use_vllm" in p.training and p.training_env["GRPO_ENGINE"] == "trl"
    assert (p.server_env["CUDA_VISIBLE_DEVICES"], p.training_env["CUDA_VISIBLE_DEVICES"]) == ("0", "1")


def test_the_server_serves_the_model_given_and_gpus_count_within_cuda_visible_devices():
    p = plan(["--gpus", "4", "--vllm_gpus", "2", "gsm8k_0_5b", "--model_name_or_path=/models/mine",
              "--max_seq_length", "700"], {"CUDA_VISIBLE_DEVICES": "4,5,6,7"})
    assert (after(p.server, "--model"), after(p.server, "--max_model_len")) == ("/models/mine", "700")
    assert after(p.server, "--tensor_parallel_size") == "2"
    assert p.server_env["CUDA_VISIBLE_DEVICES"] == "4,5" and p.training_env["CUDA_VISIBLE_DEVICES"] == "6,7"


@pytest.mark.parametrize("recipe", recipe_names())
def test_the_server_serves_each_recipes_own_model(recipe):
    p = plan(["--gpus", "2", "--vllm_gpus", "1", recipe])
    defaults = importlib.import_module(f"recipes.{recipe}").DEFAULTS
    assert after(p.server, "--model") == defaults["model_name_or_path"]
    assert after(p.server, "--max_model_len") == str(defaults.get("max_seq_length", 1024))


def test_several_machines():
    p = plan(["--gpus", "8", "--num_machines", "2", "--machine_rank", "1", "--main_process_ip", "10.0.0.1",
              "gsm8k_1_5b"])
    assert (after(p.training, "--num_processes"), after(p.training, "--num_machines")) == ("16", "2")
    assert (after(p.training, "--machine_rank"), after(p.training, "--main_process_ip"),
            after(p.training, "--main_process_port")) == ("1", "10.0.0.1", "29500")


@pytest.mark.parametrize("argv, message", [
    (["--gpus", "2", "--vllm_gpus", "2", "gsm8k_0_5b"], "leaves none of the 2 GPUs for training"),
    (["--gpus", "8", "--num_machines", "2", "gsm8k_0_5b"], "give --main_process_ip"),
    (["--gpus", "8", "--num_machines", "2", "--main_process_ip", "h", "--vllm_gpus", "1", "gsm8k_0_5b"],
     "start `trl vllm-serve` on a machine of its own"),
    (["--gpus", "2", "--cpu", "gsm8k_0_5b"], "--cpu runs DDP only"),
    (["--gpus", "0", "gsm8k_0_5b"], "must be 1 or more"),
])
def test_launches_that_cannot_work_are_refused(argv, message):
    with pytest.raises(LaunchError, match=message):
        plan(argv)


def test_cuda_visible_devices_must_hold_the_gpus_asked_for():
    with pytest.raises(LaunchError, match="lists only 2"):
        plan(["--gpus", "4", "gsm8k_0_5b"], {"CUDA_VISIBLE_DEVICES": "0,1"})


def run_launcher(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "recipes.tools.launch", *argv], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


def test_launcher_errors_are_one_line_and_dry_run_prints_the_commands():
    done = run_launcher("--gpus", "2", "--vllm_gpus", "2", "gsm8k_0_5b")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: --vllm_gpus 2 leaves none of the 2 GPUs for training"
    done = run_launcher("--gpus", "3", "--vllm_gpus", "1", "--dry_run", "gsm8k_0_5b", "--model_name_or_path", "m",
                        "--max_seq_length", "300")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("[launch] vLLM server: CUDA_VISIBLE_DEVICES=0 ")
    assert lines[1].startswith("[launch] training: CUDA_VISIBLE_DEVICES=1,2 GRPO_ENGINE=trl ")
    assert lines[1].endswith("-m recipes.gsm8k_0_5b --use_vllm true --vllm_mode server --vllm_server_host "
                             "127.0.0.1 --vllm_server_port 8000 --load_in_4bit false --model_name_or_path m "
                             "--max_seq_length 300")


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="DeepSpeed is installed")
def test_zero3_without_deepspeed_is_a_one_line_error():
    done = run_launcher("--gpus", "2", "--dist", "zero3", "gsm8k_0_5b")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("error: --dist zero3 needs DeepSpeed, which requirements.txt leaves out: "
                                   f"pip install {launch.DEEPSPEED}")


@pytest.mark.parametrize("make_vars, command", [
    ([], ".venv/bin/python -m recipes.gsm8k_0_5b --max_steps 5"),
    (["GPUS=4"],
     ".venv/bin/python -m recipes.tools.launch --gpus 4 --dist fsdp2 --vllm_gpus 0 gsm8k_0_5b --max_steps 5"),
    (["GPUS=4", "DIST=zero3", "VLLM_GPUS=1"],
     ".venv/bin/python -m recipes.tools.launch --gpus 4 --dist zero3 --vllm_gpus 1 gsm8k_0_5b --max_steps 5"),
])
def test_make_runs_the_recipe_alone_or_through_the_launcher(make_vars, command):
    outer_make = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")  # under `make test`, a nested make would print more
    env = {k: v for k, v in os.environ.items() if k not in outer_make}
    done = subprocess.run(["make", "--no-print-directory", "-n", "gsm8k-0.5b", *make_vars, "ARGS=--max_steps 5"],
                          cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    assert done.stdout.splitlines()[-1] == command


# --- The vLLM server: started, waited for, always stopped --------------------------------------------------------

STAND_IN = textwrap.dedent("""\
    # A stand-in for `trl vllm-serve`: a worker process of its own (as vLLM has), then /health answers after a delay.
    import http.server, subprocess, sys, time
    port, delay, pid_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(pid_file, "w").write(str(worker.pid))
    if delay < 0:
        sys.exit(3)  # a server that fails while it loads
    time.sleep(delay)
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
        def log_message(self, *args):
            pass
    print("ready", flush=True)
    http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


@pytest.fixture
def stand_in(tmp_path):
    """(command, url, the worker's pid file) of a stand-in server that answers after `delay` seconds."""
    script = tmp_path / "server.py"
    script.write_text(STAND_IN)

    def make(delay: float):
        port = free_port()
        pid_file = tmp_path / f"worker-{port}.pid"
        return [sys.executable, str(script), str(port), str(delay), str(pid_file)], f"http://127.0.0.1:{port}", pid_file
    return make


def test_the_server_is_waited_for_and_stopped_with_its_workers(stand_in, tmp_path):
    command, url, pid_file = stand_in(1.0)
    start = time.monotonic()
    with vllm_server(command, dict(os.environ), url, 30, str(tmp_path / "server.log"), interval=0.2) as server:
        assert time.monotonic() - start >= 1.0  # not before it answers
        assert urllib.request.urlopen(f"{url}/health").status == 200
        worker = int(pid_file.read_text())
        assert alive(server.pid) and alive(worker)
    assert server.poll() is not None and gone(worker)
    assert "ready" in (tmp_path / "server.log").read_text()


def test_a_server_that_never_answers_is_a_timeout_and_is_stopped(stand_in, tmp_path):
    command, url, pid_file = stand_in(600)
    log = str(tmp_path / "server.log")
    with pytest.raises(LaunchError, match=rf"did not answer at {url}/health within 1 s; see {log}"):
        with vllm_server(command, dict(os.environ), url, 1, log, interval=0.2):
            pytest.fail("the block ran without a server")
    assert gone(int(pid_file.read_text()))


def test_a_server_that_dies_while_loading_is_reported_and_its_workers_stopped(stand_in, tmp_path):
    command, url, pid_file = stand_in(-1)
    with pytest.raises(LaunchError, match="stopped with exit code 3 before it answered"):
        with vllm_server(command, dict(os.environ), url, 30, str(tmp_path / "server.log"), interval=0.2):
            pass
    assert gone(int(pid_file.read_text()))


def test_the_server_stops_when_training_fails_or_is_interrupted(stand_in, tmp_path):
    command, url, _ = stand_in(0)
    check = f"import sys, urllib.request; urllib.request.urlopen('{url}/health'); sys.exit(7)"
    p = Plan(training=[sys.executable, "-c", check], training_env=dict(os.environ), server=command,
             server_env=dict(os.environ), server_url=url)
    assert execute(p, 30, str(tmp_path / "server.log")) == 7  # the training saw the server, then failed
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/health", timeout=2)
    command, url, _ = stand_in(0)
    with pytest.raises(KeyboardInterrupt):
        with vllm_server(command, dict(os.environ), url, 30, str(tmp_path / "server2.log"), interval=0.2) as server:
            raise KeyboardInterrupt
    assert server.poll() is not None


def test_sigterm_to_the_launcher_stops_training_and_server(stand_in, tmp_path):
    command, url, pid_file = stand_in(0)
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(f"""\
        import os, signal, sys
        from recipes.tools import launch
        signal.signal(signal.SIGTERM, launch._exit_on_sigterm)
        training = [sys.executable, "-c", "import time; open({str(tmp_path / 'training.pid')!r}, 'w').write("
                    "str(__import__('os').getpid())); time.sleep(600)"]
        plan = launch.Plan(training, dict(os.environ), {command!r}, dict(os.environ), {url!r})
        launch.execute(plan, 30, {str(tmp_path / 'server.log')!r})
    """))
    process = subprocess.Popen([sys.executable, str(driver)], env={**os.environ, "PYTHONPATH": str(ROOT)})
    training_pid = tmp_path / "training.pid"
    deadline = time.monotonic() + 60
    while not training_pid.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 128 + signal.SIGTERM
    assert gone(int(training_pid.read_text())) and gone(int(pid_file.read_text()))


def test_kill_tree_kills_every_process_under_one_whatever_its_group(tmp_path):
    """The launcher's training and server, and the training's processes, each have a process group of their own:
    killing the launcher's group would leave them on the GPUs (bench_gpus' --timeout, an error in the launcher)."""
    grandchild = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True); "
            f"open({str(grandchild)!r}, 'w').write(str(p.pid)); time.sleep(600)")
    launcher = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 30
    while not grandchild.exists() or not grandchild.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    under = psutil.Process(int(grandchild.read_text()))
    launch.kill_tree(launcher.pid)
    assert launcher.wait(10) == -signal.SIGKILL
    under.wait(10)  # psutil.TimeoutExpired if it were still running
    assert not under.is_running()


# --- The recipes under accelerate ------------------------------------------------------------------------------

@pytest.fixture
def under_accelerate(monkeypatch):
    """parse_args as in a process of a multi-process launch."""
    monkeypatch.setattr(recipe_args, "DISTRIBUTED", True)
    monkeypatch.setattr(start, "NUM_PROCESSES", 2)


def test_under_accelerate_the_weights_are_bf16_not_4bit(under_accelerate):
    args, _ = parse_args(gsm8k_0_5b.DEFAULTS, [])
    assert args.load_in_4bit is False
    with pytest.raises(RecipeError, match="--load_in_4bit is for one GPU"):
        parse_args(gsm8k_0_5b.DEFAULTS, ["--load_in_4bit", "true"])


def test_only_the_first_process_writes_files(monkeypatch, tmp_path):
    processes.write_json(str(tmp_path / "first.json"), {"a": 1})
    monkeypatch.setattr(processes, "IS_MAIN_PROCESS", False)
    processes.write_json(str(tmp_path / "other.json"), {"a": 1})
    assert json.loads((tmp_path / "first.json").read_text()) == {"a": 1} and not (tmp_path / "other.json").exists()


def test_use_peft_false_flag():
    args, _ = parse_args(gsm8k_0_5b.DEFAULTS, ["--use_peft", "false"])
    assert (args.use_peft, args.load_in_4bit) == (False, False)
    with pytest.raises(RecipeError, match="--save_merged merges a LoRA"):
        parse_args(gsm8k_0_5b.DEFAULTS, ["--use_peft", "false", "--save_merged"])


def test_vllm_needs_a_gpu_and_trls_vllm_needs_16bit_weights(monkeypatch):
    with pytest.raises(RecipeError, match="--use_vllm needs a CUDA GPU and the vllm package"):
        parse_args(gsm8k_0_5b.DEFAULTS, ["--use_vllm", "true", "--vllm_mode", "server"])
    monkeypatch.setattr(recipe_args, "TRL_VLLM", True)  # GRPO_ENGINE=trl on a GPU with vllm installed
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, ["--use_vllm", "true", "--vllm_mode", "server", "--load_in_4bit",
                                                 "false"])
    assert (cfg.use_vllm, cfg.vllm_mode) == (True, "server")
    with pytest.raises(RecipeError, match="add --load_in_4bit false"):
        parse_args(gsm8k_0_5b.DEFAULTS, ["--use_vllm", "true", "--vllm_mode", "colocate"])


def kk_main(*argv):
    return knights_knaves_7b.main(*parse_args(knights_knaves_7b.DEFAULTS, list(argv), knights_knaves_7b.ExtraArguments))


def test_kk_trains_one_stage_per_launch_when_sharded(monkeypatch, tmp_path):
    monkeypatch.setattr(stages, "SHARDED", True)
    with pytest.raises(RecipeError, match="with FSDP2 or ZeRO-3, a launch trains one stage"):
        kk_main("--output_dir", str(tmp_path))
    with pytest.raises(RecipeError, match="stage 2 starts from stage 1's model, and there is none at "
                       f"{re.escape(str(tmp_path / 'stage-1' / 'model'))}: train stage 1 first"):
        kk_main("--output_dir", str(tmp_path), "--stage", "2", "--use_peft", "false")  # a full fine-tune, stage by stage


@pytest.fixture(scope="module")
def word_problems(tmp_path_factory) -> str:
    """A folder of GSM8K-format train.jsonl and test.jsonl: 40 sums, small enough to load in no time."""
    folder = tmp_path_factory.mktemp("word-problems")
    for split, offset in (("train", 0), ("test", 20)):
        rows = [{"question": f"Mia has {a} shells and finds {a + 3} more. How many shells does she have?",
                 "answer": f"{a} + {a + 3} = <<{a}+{a + 3}={2 * a + 3}>>{2 * a + 3}\n#### {2 * a + 3}"}
                for a in range(offset, offset + 20)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(folder)


def tiny_flags(tiny_model, data_dir, out, *extra) -> list[str]:
    return ["--model_name_or_path", tiny_model, "--dataset_name", data_dir, "--output_dir", str(out),
            "--max_prompt_tokens", "1024",
            "--max_completion_length", "12", "--lora_r", "8", "--lora_alpha", "16", "--eval_limit", "5",
            "--eval_batch_size", "1", "--save_steps", "1", "--logging_steps", "1", "--num_generations", "2",
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--max_steps", "2", *extra]


def test_full_finetune_saves_the_whole_model(tiny_model, word_problems, tmp_path, capsys):
    gsm8k_0_5b.main(*parse_args(gsm8k_0_5b.DEFAULTS, tiny_flags(tiny_model, word_problems, tmp_path, "--use_peft",
                                                                "false", "--max_steps", "1", "--eval_limit", "1")))
    assert "[model] full fine-tuning: every weight trains, no LoRA" in capsys.readouterr().out
    assert (tmp_path / "model" / "model.safetensors").is_file() and not (tmp_path / "adapter").exists()
    assert json.loads((tmp_path / "eval_after.json").read_text())["sets"]["test"]["n"] == 1


def steps(out: Path) -> list[dict]:
    return [h for h in json.loads((out / "log_history.json").read_text()) if "reward" in h]


def test_two_processes_train_like_one_and_evaluate_once_between_them(tiny_model, word_problems, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    gsm8k_0_5b.main(*parse_args(gsm8k_0_5b.DEFAULTS, tiny_flags(tiny_model, word_problems, one, "--load_in_4bit",
                                                                "false")))
    done = run_launcher("--cpu", "--gpus", "2", "--dist", "ddp", "gsm8k_0_5b",
                        *tiny_flags(tiny_model, word_problems, two))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    # one copy of the output: the first process's
    assert out.count("[model] accelerate, processes: 2") == 1 and out.count("[train] LoRA adapter saved") == 1
    assert out.count("published (before -> after)") == 1 and out.count("[eval]") == 2
    # the same metrics as one process; each step took 2 processes' completions
    assert [h["step"] for h in steps(two)] == [1, 2]
    assert set(steps(two)[0]) == set(steps(one)[0])
    assert steps(two)[0]["num_tokens"] > steps(one)[0]["num_tokens"]
    # the 5 questions split 3 + 2 (padded to 3) between the processes, answered once each, in order
    assert re.search(r"eval before test: 100%\|[^|]*\| 3/3 ", done.stderr)  # the first process's 3 batches of one
    for stage in ("before", "after"):
        result = json.loads((two / f"eval_{stage}.json").read_text())["sets"]["test"]
        assert result["n"] == 5 and len(result["records"]) == 5
    single = json.loads((one / "eval_before.json").read_text())["sets"]["test"]["records"]
    split = json.loads((two / "eval_before.json").read_text())["sets"]["test"]["records"]
    assert [r["completion"] for r in split] == [r["completion"] for r in single]
    assert (two / "adapter" / "adapter_config.json").is_file()


def test_bad_input_on_several_processes_is_its_one_line_not_torchs_traceback(tiny_model, tmp_path):
    missing = tmp_path / "nowhere" / "train.jsonl"
    done = run_launcher("--cpu", "--gpus", "2", "--dist", "ddp", "gsm8k_0_5b",
                        *tiny_flags(tiny_model, str(missing), tmp_path / "run"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert f"error: no GSM8K file at {missing} (expected JSONL rows with 'question' and 'answer')" in lines
    assert re.fullmatch(r"\[launch\] training stopped: process [01] exited with code 1 \(its output above says "
                        r"why\)", lines[-1])


def test_an_input_error_of_a_later_process_starts_a_line_of_its_own():
    """The first process's progress bar may be half drawn when another process stops on bad input (both write to one
    terminal): the other's error starts on a new line, not glued to the end of the bar."""
    code = ("import sys; from recipes.common.args import stop; "
            "sys.stderr.write('Loading weights:  50%|#####     | 1/2'); sys.stderr.flush(); stop('error: no such file')")
    env = dict(os.environ, WORLD_SIZE="2", RANK="1", LOCAL_RANK="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-2:] == ["Loading weights:  50%|#####     | 1/2", "error: no such file"], \
        done.stderr[-2000:]


def test_two_machines_of_one_process_each(tiny_model, word_problems, tmp_path):
    """Multi-machine flags on one machine: machine 0 and machine 1 are two launchers meeting at 127.0.0.1."""
    port = str(free_port())
    machines = [subprocess.Popen(
        [sys.executable, "-m", "recipes.tools.launch", "--cpu", "--gpus", "1", "--num_machines", "2", "--machine_rank",
         str(rank), "--main_process_ip", "127.0.0.1", "--main_process_port", port, "--dist", "ddp", "gsm8k_0_5b",
         *tiny_flags(tiny_model, word_problems, tmp_path, "--use_peft", "false", "--skip_eval", "--max_steps",
                    "1")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    results = [m.communicate(timeout=300) for m in machines]
    assert [m.returncode for m in machines] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    assert "[train] model saved" in results[0][0] and "[train] model saved" not in results[1][0]
    assert [h["step"] for h in steps(tmp_path)] == [1]
    assert (tmp_path / "model" / "model.safetensors").is_file()


# --- Stopping a launch: Ctrl-C and SIGTERM reach every process, which saves its step's checkpoint ---------------

SLOW_REWARD = """
import itertools
import os
import time

CALLS = itertools.count(1)


def slow_reward(prompts, completions, **kwargs) -> list[float]:
    \"\"\"0 for every completion, after a pause: LONG_STEP seconds in step 3, half a second in the others. With
    LONG_STEP=stuck, step 3 never ends: Ctrl-C does not reach it.\"\"\"
    long = next(CALLS) == 3
    while long and os.environ["LONG_STEP"] == "stuck":
        try:
            time.sleep(600)
        except KeyboardInterrupt:
            pass
    time.sleep(float(os.environ["LONG_STEP"]) if long else 0.5)
    return [0.0] * len(completions)
"""


@pytest.fixture(scope="module")
def slow_steps(tmp_path_factory) -> Path:
    """A copy of the code with recipes/slow_steps.py: recipe A with a reward that takes its time."""
    root = tmp_path_factory.mktemp("slow-copy")
    for package in ("recipes", "rewards", "data"):
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "rewards" / "slow.py").write_text(SLOW_REWARD)
    recipe = (root / "recipes" / "gsm8k_0_5b.py").read_text()
    (root / "recipes" / "slow_steps.py").write_text(recipe.replace(
        "\nREWARDS = [custom_reward]\n", "\nfrom rewards.slow import slow_reward\n\nREWARDS = [slow_reward]\n"))
    return root


def start_slow_launch(root: Path, tiny_model: str, data: str, out: Path, long_step: float | str) -> subprocess.Popen:
    """Two CPU processes of the slow recipe, the launcher in a process group of its own, as a terminal starts it;
    returned once step 2 has been logged (step 3 is under way)."""
    log = out.parent / f"{out.name}.stdout"
    process = subprocess.Popen(
        [sys.executable, "-m", "recipes.tools.launch", "--cpu", "--gpus", "2", "--dist", "ddp", "slow_steps",
         *tiny_flags(tiny_model, data, out, "--skip_eval", "--save_steps", "100", "--max_steps", "50",
                     "--gradient_accumulation_steps", "1")],
        cwd=root, stdout=open(log, "w"), stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "LONG_STEP": str(long_step), "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 240
    while "[train] step 2/50" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-3000:]
        time.sleep(0.2)
    time.sleep(1)
    return process


def test_ctrl_c_on_several_processes_saves_the_step_under_way_however_long_it_takes(slow_steps, tiny_model,
                                                                                     word_problems, tmp_path):
    """torchrun's own handling would kill the processes 30 s after the signal, before a longer step's checkpoint."""
    out = tmp_path / "run"
    launch_ = start_slow_launch(slow_steps, tiny_model, word_problems, out, long_step=40)
    os.killpg(launch_.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: every process of its group
    _, err = launch_.communicate(timeout=180)
    assert launch_.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "SignalException" not in err, err[-3000:]
    assert f"[train] stopped by Ctrl-C at step 3, saved in {out / 'checkpoint-3'}: to continue, run the same " \
           "command with --resume_from_checkpoint last" in err.splitlines()
    assert (out / "checkpoint-3" / "trainer_state.json").is_file()


def test_sigterm_to_the_launcher_of_several_processes_saves_a_checkpoint(slow_steps, tiny_model, word_problems,
                                                                         tmp_path):
    out = tmp_path / "run"
    launch_ = start_slow_launch(slow_steps, tiny_model, word_problems, out, long_step=3)
    launch_.send_signal(signal.SIGTERM)  # a batch system's cancel, to the launcher alone
    _, err = launch_.communicate(timeout=180)
    assert launch_.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err and "SignalException" not in err, err[-3000:]
    stopped = re.search(r"^\[train\] stopped by SIGTERM at step (\d+), saved in .*checkpoint-\1: ", err, re.M)
    assert stopped, err[-3000:]
    # the same command with --resume_from_checkpoint last goes on from there, on both processes
    step = int(stopped.group(1))
    again = subprocess.run(
        [sys.executable, "-m", "recipes.tools.launch", "--cpu", "--gpus", "2", "--dist", "ddp", "slow_steps",
         *tiny_flags(tiny_model, word_problems, out, "--skip_eval", "--save_steps", "100", "--max_steps",
                     str(step + 2), "--gradient_accumulation_steps", "1", "--resume_from_checkpoint", "last")],
        cwd=slow_steps, capture_output=True, text=True, env={**os.environ, "LONG_STEP": "0.5", "HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"[train] step {step + 1}/{step + 2}" in again.stdout and f"[train] step {step}/" not in again.stdout
    assert [h["step"] for h in json.loads((out / "log_history.json").read_text()) if "reward" in h] == \
        list(range(1, step + 3))
    assert (out / "adapter" / "adapter_config.json").is_file()


def test_a_second_ctrl_c_on_several_processes_stops_them_at_once(slow_steps, tiny_model, word_problems, tmp_path):
    out = tmp_path / "run"
    launch_ = start_slow_launch(slow_steps, tiny_model, word_problems, out, long_step=600)
    os.killpg(launch_.pid, signal.SIGINT)
    time.sleep(2)
    os.killpg(launch_.pid, signal.SIGINT)
    _, err = launch_.communicate(timeout=60)  # not the 600 s of the step under way
    assert launch_.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert not (out / "checkpoint-3").exists()


def test_a_third_ctrl_c_kills_processes_that_no_signal_reaches(slow_steps, tiny_model, word_problems, tmp_path):
    launch_ = start_slow_launch(slow_steps, tiny_model, word_problems, tmp_path / "run", long_step="stuck")
    for _ in range(3):
        os.killpg(launch_.pid, signal.SIGINT)
        time.sleep(2)
    _, err = launch_.communicate(timeout=60)
    assert launch_.returncode == 130, err[-3000:]  # stopped by Ctrl-C
    assert "[launch] stopped three times: killing the training processes" in err.splitlines()
    assert "Traceback" not in err, err[-3000:]
