"""Run a recipe on several GPUs: `accelerate launch` with a config from recipes/tools/accelerate/, plain TRL + PEFT
instead of Unsloth, and, if asked, a vLLM server on GPUs of its own that generates the completions.

    python -m recipes.tools.launch --gpus 4 gsm8k_1_5b                     # FSDP2 on 4 GPUs
    python -m recipes.tools.launch --gpus 4 --dist zero3 gsm8k_1_5b --max_steps 50   # recipe flags after the recipe
    python -m recipes.tools.launch --gpus 4 --vllm_gpus 1 gsm8k_1_5b       # vLLM server on GPU 0, training on 1-3
    python -m recipes.tools.launch --gpus 8 --num_machines 2 --machine_rank 0 --main_process_ip 10.0.0.1 gsm8k_1_5b
    make gsm8k-1.5b GPUS=4 DIST=zero3 VLLM_GPUS=1 ARGS="--max_steps 50"   # the same through make

It prints the commands it runs (--dry_run: only prints them). The vLLM server is TRL's `trl vllm-serve`: the launcher
starts it, waits until it answers, trains, and stops it at the end, also after an error or Ctrl-C.
"""

import argparse
import contextlib
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from recipes.tools.catalog import load_recipe, recipe_names

CONFIGS = Path(__file__).resolve().parent / "accelerate"
DISTS = ("fsdp2", "zero3", "ddp")  # the configs in recipes/tools/accelerate/<dist>.yaml
DEEPSPEED = "deepspeed==0.19.8"  # not in requirements.txt: PyPI has only its source, which builds against torch
SERVER_HOST = "127.0.0.1"


class LaunchError(Exception):
    """A launch that cannot work as asked, or a server that does not come up: reported in one line."""


@dataclass
class Plan:
    """What to run: the training command and, with a vLLM server, the server's command; each with its environment."""
    training: list[str]
    training_env: dict[str, str]
    server: list[str] | None = None
    server_env: dict[str, str] = field(default_factory=dict)
    server_url: str | None = None


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m recipes.tools.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, required=True, help="GPUs of this machine to use, the server's included")
    parser.add_argument("--dist", choices=DISTS, default="fsdp2", help="accelerate config (default: fsdp2)")
    parser.add_argument("--vllm_gpus", type=int, default=0, help="GPUs for a vLLM server (default: 0, no server)")
    parser.add_argument("--vllm_port", type=int, default=8000)
    parser.add_argument("--vllm_timeout", type=float, default=900, help="seconds to wait for the server to answer")
    parser.add_argument("--vllm_log", default="outputs/vllm-server.log", help="where the server's output goes")
    parser.add_argument("--num_machines", type=int, default=1)
    parser.add_argument("--machine_rank", type=int, default=0, help="this machine's number, from 0")
    parser.add_argument("--main_process_ip", help="address of machine 0 (with --num_machines 2 or more)")
    parser.add_argument("--main_process_port", type=int, default=29500)
    parser.add_argument("--cpu", action="store_true",
                        help="run --gpus processes on the CPU instead (DDP over gloo): the multi-process path "
                             "without a GPU, for tests and tiny models")
    parser.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("recipe", choices=recipe_names())
    parser.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own flags")
    return parser.parse_args(argv)


def recipe_setting(recipe: str, recipe_args: list[str], name: str):
    """A recipe flag's value: the last `--name value` or `--name=value` on the command line, else the recipe's
    default (a `--config` file's value is not seen: pass the flag itself)."""
    value = None
    for i, arg in enumerate(recipe_args):
        if arg == f"--{name}" and i + 1 < len(recipe_args):
            value = recipe_args[i + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    if value is not None:
        return value
    from recipes.common.args import RecipeArguments
    return load_recipe(recipe).DEFAULTS.get(name, getattr(RecipeArguments, name))


def split_gpus(gpus: int, vllm_gpus: int, visible: str | None) -> tuple[list[str], list[str]]:
    """The GPU ids of the server and of training: the first `vllm_gpus` of the `gpus` used, then the rest; counted
    within CUDA_VISIBLE_DEVICES when it is set."""
    ids = [i.strip() for i in visible.split(",") if i.strip()] if visible else [str(i) for i in range(gpus)]
    if len(ids) < gpus:
        raise LaunchError(f"--gpus {gpus}, but CUDA_VISIBLE_DEVICES={visible} lists only {len(ids)}")
    return ids[:vllm_gpus], ids[vllm_gpus:gpus]


def build_plan(a: argparse.Namespace, environ: dict[str, str] | None = None) -> Plan:
    """The commands for the launch `a` asks for; a LaunchError if it cannot work."""
    environ = dict(os.environ if environ is None else environ)
    if a.gpus < 1 or a.vllm_gpus < 0 or a.num_machines < 1:
        raise LaunchError("--gpus and --num_machines must be 1 or more, --vllm_gpus 0 or more")
    if a.vllm_gpus >= a.gpus:
        raise LaunchError(f"--vllm_gpus {a.vllm_gpus} leaves none of the {a.gpus} GPUs for training")
    if a.num_machines > 1 and not a.main_process_ip:
        raise LaunchError("with --num_machines 2 or more, give --main_process_ip: the address of machine 0")
    if a.num_machines > 1 and a.vllm_gpus:
        raise LaunchError("--vllm_gpus starts a server for one machine: with several, start `trl vllm-serve` on a "
                          "machine of its own and pass --use_vllm true --vllm_mode server --vllm_server_host HOST")
    if a.cpu and (a.dist != "ddp" or a.vllm_gpus):
        raise LaunchError("--cpu runs DDP only (--dist ddp), without vLLM: accelerate has no FSDP or DeepSpeed "
                          "on a CPU")
    processes = (a.gpus - a.vllm_gpus) * a.num_machines
    if processes == 1:  # one training GPU beside the server: the recipe as on one GPU, through plain TRL
        training = [sys.executable]
    else:
        training = [sys.executable, "-m", "recipes.tools.accelerate_launch", "--config_file",
                    str(CONFIGS / f"{a.dist}.yaml"), "--num_processes", str(processes),
                    "--num_machines", str(a.num_machines)]
    if a.num_machines > 1:
        training += ["--machine_rank", str(a.machine_rank), "--main_process_ip", a.main_process_ip,
                     "--main_process_port", str(a.main_process_port)]
    env = {**environ, "GRPO_ENGINE": "trl"}
    if a.cpu:
        if processes > 1:
            training += ["--mixed_precision", "no"]  # bf16 autocast on a CPU only slows it down
        env.update(ACCELERATE_USE_CPU="1", CUDA_VISIBLE_DEVICES="")
        server_ids = []
    else:
        server_ids, training_ids = split_gpus(a.gpus, a.vllm_gpus, environ.get("CUDA_VISIBLE_DEVICES"))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(training_ids)
    training += ["-m", f"recipes.{a.recipe}"]
    plan = Plan(training, env)
    if server_ids:
        model = recipe_setting(a.recipe, a.recipe_args, "model_name_or_path")
        max_len = recipe_setting(a.recipe, a.recipe_args, "max_seq_length")
        plan.server = [sys.executable, "-m", "trl.scripts.vllm_serve", "--model", str(model),
                       "--tensor_parallel_size", str(len(server_ids)), "--host", SERVER_HOST,
                       "--port", str(a.vllm_port), "--max_model_len", str(max_len)]
        plan.server_env = {**environ, "CUDA_VISIBLE_DEVICES": ",".join(server_ids)}
        plan.server_url = f"http://{SERVER_HOST}:{a.vllm_port}"
        # before the user's flags, which may still change e.g. --vllm_server_timeout; TRL sends the server 16-bit
        # weights, so no 4-bit model even with one training GPU
        training += ["--use_vllm", "true", "--vllm_mode", "server", "--vllm_server_host", SERVER_HOST,
                     "--vllm_server_port", str(a.vllm_port), "--load_in_4bit", "false"]
    training += a.recipe_args
    return plan


def shown(command: list[str], env: dict[str, str], keys=("CUDA_VISIBLE_DEVICES", "GRPO_ENGINE", "ACCELERATE_USE_CPU")):
    """The command as a shell line, with the environment variables the launcher sets in front."""
    settings = [f"{k}={shlex.quote(env[k])}" for k in keys if k in env]
    return " ".join(settings + [shlex.join(command)])


@contextlib.contextmanager
def vllm_server(command: list[str], env: dict[str, str], url: str, timeout: float, log_path: str,
                interval: float = 2.0):
    """A vLLM server from its start until it answers at `url`/health; stopped, with every process it started, when
    the block ends however it ends."""
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(server, f"{url}/health", timeout, log_path, interval)
        yield server
    finally:
        stop(server)


def wait_until_ready(server: subprocess.Popen, health_url: str, timeout: float, log_path: str, interval: float):
    deadline = time.monotonic() + timeout
    print(f"[launch] waiting for the vLLM server at {health_url} (its output: {log_path})", flush=True)
    while True:
        if server.poll() is not None:
            raise LaunchError(f"the vLLM server stopped with exit code {server.returncode} before it answered; "
                              f"see {log_path}")
        try:
            with urllib.request.urlopen(health_url, timeout=interval) as response:
                if response.status == 200:
                    print("[launch] the vLLM server is up", flush=True)
                    return
        except (urllib.error.URLError, OSError):  # not listening yet, or not ready
            pass
        if time.monotonic() > deadline:
            raise LaunchError(f"the vLLM server did not answer at {health_url} within {timeout:g} s; see {log_path}")
        time.sleep(interval)


def stop(process: subprocess.Popen, grace: float = 30.0) -> None:
    """End `process` and everything in its process group: SIGTERM, then SIGKILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def kill_tree(pid: int) -> None:
    """SIGKILL to a process and every process under it, in whichever process group: the launcher's training and
    server, and the training's processes, each have a group of their own."""
    try:
        root = psutil.Process(pid)
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in tree:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def run_training(command: list[str], env: dict[str, str]) -> int:
    """The training launch, in a process group of its own: a Ctrl-C or SIGTERM that reaches the launcher is passed on
    to it, once each (accelerate_launch.py passes it on to the training processes, which save a checkpoint at the end
    of the step under way and stop; a second Ctrl-C stops them at once), and the launcher waits for them, however long
    the step takes. On an error in the launcher itself, training is asked to stop."""
    training = subprocess.Popen(command, env=env, start_new_session=True)
    passed_on = []

    def pass_on(signum, frame):
        passed_on.append(signum)
        with contextlib.suppress(ProcessLookupError):
            training.send_signal(signum)

    previous = {signum: signal.signal(signum, pass_on) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = training.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if training.poll() is None:
            training.send_signal(signal.SIGTERM)
            try:
                training.wait(60)
            except subprocess.TimeoutExpired:
                kill_tree(training.pid)
    if passed_on:  # stopped: the status says by what, and the server (if any) is stopped on the way out
        raise SystemExit(code if code > 0 else 128 + passed_on[0])
    return code


def execute(plan: Plan, timeout: float, log_path: str) -> int:
    """Run the plan: the server first if there is one, until it answers; then training; the server stops last."""
    if plan.server is None:
        return run_training(plan.training, plan.training_env)
    with vllm_server(plan.server, plan.server_env, plan.server_url, timeout, log_path):
        return run_training(plan.training, plan.training_env)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    plan = build_plan(a)
    if plan.server:
        print(f"[launch] vLLM server: {shown(plan.server, plan.server_env)}", flush=True)
    print(f"[launch] training: {shown(plan.training, plan.training_env)}", flush=True)
    if a.dry_run:
        return 0
    if a.dist == "zero3" and importlib.util.find_spec("deepspeed") is None:
        raise LaunchError(f"--dist zero3 needs DeepSpeed, which requirements.txt leaves out: pip install {DEEPSPEED}")
    return execute(plan, a.vllm_timeout, a.vllm_log)


def _exit_on_sigterm(*_):
    raise SystemExit(128 + signal.SIGTERM)  # so that `finally` stops the server (a batch system's cancel sends it)


if __name__ == "__main__":
    os.environ["GRPO_ENGINE"] = "trl"  # a recipe imported for its defaults loads no Unsloth into this process
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        sys.exit(main())
    except LaunchError as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit(130)
