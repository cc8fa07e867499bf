"""What every recipe shares: command-line arguments, the 4-bit LoRA model, GRPO training with checkpoints (a folder of
its own for each run, resumed from its newest complete checkpoint, stopped cleanly by Ctrl-C or SIGTERM), and the
before/after evaluation. A recipe supplies its data, rewards, system prompt and defaults; this file does the rest.

On a CUDA GPU the model is Unsloth's (4-bit, LoRA, vLLM generation when vllm is installed). Without one, the same
LoRA is built with transformers + PEFT (bitsandbytes 4-bit on the CPU), which is what the tests run.
`GRPO_ENGINE=trl` picks the transformers + PEFT model on a GPU too (plain TRL, no Unsloth): the benchmark's baseline.

Under `accelerate launch` with several processes (recipes/tools/launch.py, `make <recipe> GPUS=N`), the engine is plain TRL:
each process loads the bf16 model onto its own GPU, accelerate shards it (FSDP2, DeepSpeed ZeRO-3) or copies it
(DDP), the evaluation is split between the processes, and only the first process prints and writes files.
"""

import contextlib
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from recipes.errors import RecipeError, check_source

# Start-up messages that look like a broken install but are harmless to the recipes: (logger, words of the message).
# Dropped by their loggers before the libraries load; any other message of those loggers still shows.
KNOWN_NOISE = [
    # torchao's CUDA kernels (mxfp8, CUTLASS) load only on the torch version they were built for; the recipes' 4-bit
    # models run on bitsandbytes and never call them
    ("torchao", ("Failed to load ", "torchao", ".so")),
    # torch 2.13 on torchao's own Enum registrations: a change for torchao to make, nothing a run does differently
    ("torch.utils._pytree", ("Calling register_constant() on Enum subclasses is deprecated",)),
    # bitsandbytes would fetch a faster CPU kernel from the hub (the `kernels` package); its own CPU kernel runs instead
    ("bitsandbytes.backends.cpu.ops", ("Failed to load CPU gemm_4bit_forward from kernels-community",)),
]
for _logger, _words in KNOWN_NOISE:
    logging.getLogger(_logger).addFilter(
        lambda record, words=_words: not all(word in record.getMessage() for word in words))

# Set by `accelerate launch` (torchrun) in each process of a multi-process run.
NUM_PROCESSES = int(os.environ.get("WORLD_SIZE", "1"))
LOCAL_RANK = int(os.environ.get("LOCAL_RANK", "0"))
RANK = int(os.environ.get("RANK", "0"))
IS_MAIN_PROCESS = RANK == 0
USES_DEEPSPEED = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
SHARDED = USES_DEEPSPEED or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
DISTRIBUTED = NUM_PROCESSES > 1 or SHARDED  # under accelerate: sharded, or on several processes
if not IS_MAIN_PROCESS:  # one copy of the output, the first process's (set before tqdm loads; errors still show)
    os.environ["TQDM_DISABLE"] = "1"
    sys.stdout = open(os.devnull, "w")

import torch  # noqa: E402

HAS_CUDA = torch.cuda.is_available()

ENGINES = ("unsloth", "trl")
ENGINE = os.environ.get("GRPO_ENGINE", "trl" if DISTRIBUTED else "unsloth")
if ENGINE not in ENGINES:
    raise SystemExit(f"error: GRPO_ENGINE={ENGINE!r} is not one of {', '.join(ENGINES)}")
if ENGINE == "unsloth" and DISTRIBUTED and HAS_CUDA:
    raise SystemExit("error: Unsloth trains on one GPU without accelerate: launch with GRPO_ENGINE=trl")
USE_UNSLOTH = HAS_CUDA and ENGINE == "unsloth"  # Unsloth needs CUDA: without it, transformers + PEFT
if USE_UNSLOTH:
    # Unsloth's torch.compile of the training step: measured on an H100 (README, "GPU measurements") it made the 0.5B
    # recipe's first step take 321 s instead of 24 s, and the 1.5B one had not finished its first step after 11
    # minutes (33 s without), for at most a few seconds a step later. UNSLOTH_COMPILE_DISABLE=0 turns it back on.
    os.environ.setdefault("UNSLOTH_COMPILE_DISABLE", "1")
    import unsloth  # noqa: F401  (before trl and transformers: Unsloth patches them on import)

from tqdm.auto import tqdm  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from transformers.trainer_callback import PrinterCallback, ProgressCallback  # noqa: E402
from transformers.trainer_utils import sort_checkpoints  # noqa: E402
from trl import GRPOConfig, TrlParser  # noqa: E402

from recipes.samples import KeepCompletions  # noqa: E402

VLLM_INSTALLED = importlib.util.find_spec("vllm") is not None
HAS_VLLM = USE_UNSLOTH and VLLM_INSTALLED  # generation through Unsloth's vLLM
TRL_VLLM = ENGINE == "trl" and HAS_CUDA and VLLM_INSTALLED  # TRL's own vLLM: a `trl vllm-serve` server or colocated
LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class RecipeArguments:
    model: str = field(default="", metadata={"help": "Hub id or local folder of the model to train."})
    dataset_name: str = field(default="", metadata={"help": "Hub id, a folder of <split>.jsonl files, or one file."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_train_split: str = "train"
    dataset_test_split: str = "test"
    max_seq_length: int = field(default=1024, metadata={"help": "Longest prompt + completion, in tokens."})
    max_prompt_tokens: int = field(default=256, metadata={"help": "Longer prompts are dropped from the data."})
    load_in_4bit: bool = True
    full_finetune: bool = field(default=False, metadata={
        "help": "Train every weight (bf16 on a GPU, no 4-bit) instead of a LoRA: GRPO_ENGINE=trl or accelerate."})
    lora_r: int = 32
    lora_alpha: int = 64
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_MODULES))
    lora_random_state: int = field(default=3407, metadata={"help": "Seed of the LoRA weights' initialisation."})
    gpu_memory_utilization: float = field(default=0.8, metadata={"help": "Share of GPU memory vLLM may take."})
    skip_eval: bool = field(default=False, metadata={"help": "Skip the before/after evaluation."})
    eval_limit: int | None = field(default=None, metadata={"help": "Evaluate on the first N questions only."})
    eval_batch_size: int = 64
    save_merged: bool = field(default=False, metadata={"help": "Also save the model merged into 16-bit weights."})

    def __post_init__(self):
        if self.eval_limit is not None and self.eval_limit < 1:
            raise RecipeError(f"--eval_limit must be at least 1, not {self.eval_limit} (--skip_eval skips the "
                              "evaluation)")


@dataclass
class Task:
    """How a recipe's answers are judged at evaluation time (greedy decoding, the recipe's system prompt)."""
    name: str
    is_correct: Callable[[str, str], bool]  # (completion text, gold answer)
    follows_format: Callable[[str], bool]
    published: tuple[float, float] | None = None  # accuracy before -> after, in %, as the source reported it
    is_lenient_correct: Callable[[str, str], bool] | None = None  # a looser rule, reported beside accuracy
    extra: Callable[[dict, object], dict] | None = None  # (a set's result, its rows) -> more entries for the result
    headline: Callable[[dict], float] = lambda result: result["accuracy"]  # the percentage printed for each set


class RecipeParser(TrlParser):
    """TrlParser whose errors are one line: a bad flag value, an unknown flag or key, a --config that does not parse.
    (argparse prints its whole usage, about 190 lines here, before the line that matters.)"""

    def error(self, message):
        raise RecipeError(f"{message} (--help lists the flags)")

    def parse(self, argv: list[str] | None = None) -> tuple:
        import yaml

        try:
            *parsed, unknown = self.parse_args_and_config(args=argv, return_remaining_strings=True)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{mark.name}, line {mark.line + 1}" if mark else "--config"
            raise RecipeError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
        except OSError as e:  # the --config file
            raise RecipeError(f"cannot read --config {e.filename}: {e.strerror}") from None
        except ValueError as e:  # a YAML that is not a mapping; settings that GRPOConfig's own checks refuse
            raise RecipeError(" ".join(str(e).split())) from None
        if unknown:
            self.error(f"unknown flags or --config keys: {' '.join(unknown)}")
        return tuple(parsed)


def parse_args(defaults: dict, argv: list[str] | None = None) -> tuple[RecipeArguments, GRPOConfig]:
    """Recipe arguments and every GRPOConfig field as flags (`--learning_rate 1e-5`) or YAML (`--config f.yaml`),
    over the recipe's defaults. Without a CUDA GPU, bf16, 8-bit optimizers and pinned memory are switched off."""
    parser = RecipeParser((RecipeArguments, GRPOConfig))
    merged = {"use_vllm": HAS_VLLM, "report_to": "none", **defaults}
    if not USE_UNSLOTH:  # settings of Unsloth's GRPOConfig (unsloth_grpo_mini_batch, ...): plain TRL has none
        merged = {k: v for k, v in merged.items() if not k.startswith("unsloth_")}
    if not HAS_CUDA:  # bf16 and paged 8-bit Adam need a GPU; pinned memory speeds copies to one
        merged.update(bf16=False, optim="adamw_torch", dataloader_pin_memory=False)
    if DISTRIBUTED:
        merged.update(load_in_4bit=False)  # accelerate shards or copies the bf16 weights
    parser.set_defaults(**merged)
    args, training_args = parser.parse(argv)
    if args.full_finetune:
        args.load_in_4bit = False
        if USE_UNSLOTH:
            raise RecipeError("--full_finetune needs GRPO_ENGINE=trl: the Unsloth path trains a LoRA")
        if args.save_merged:
            raise RecipeError("--save_merged merges a LoRA: a --full_finetune run saves the whole model already")
    if DISTRIBUTED and args.load_in_4bit:
        raise RecipeError("--load_in_4bit is for one GPU: under accelerate (several GPUs, FSDP2, ZeRO-3) the "
                          "recipes train the bf16 weights")
    if training_args.use_vllm and not (HAS_VLLM or TRL_VLLM):
        raise RecipeError("--use_vllm needs a CUDA GPU and the vllm package (pip install -r requirements.txt)")
    if training_args.use_vllm and TRL_VLLM and args.load_in_4bit:
        raise RecipeError("TRL's vLLM generation takes 16-bit weights: add --load_in_4bit false")
    return args, training_args


def adapter_settings(adapter: str) -> dict:
    """The base model and LoRA shape an adapter was trained with, from its adapter_config.json."""
    path = os.path.join(adapter, "adapter_config.json")
    if not os.path.isfile(path):
        raise RecipeError(f"no LoRA adapter at {adapter} (expected {path})")
    with open(path) as f:
        config = json.load(f)
    return {"model": config["base_model_name_or_path"], "lora_r": config["r"], "lora_alpha": config["lora_alpha"],
            "lora_target_modules": sorted(config["target_modules"])}


def load_model(args: RecipeArguments, fast_inference: bool = False, gradient_checkpointing: bool = True):
    """The model in 4-bit with a fresh LoRA adapter, and its tokenizer. gradient_checkpointing (GRPOConfig's flag):
    on Unsloth, its offloading checkpointing ("unsloth"), or none; plain TRL's trainer reads the flag itself."""
    check_source(args.model)
    try:
        if USE_UNSLOTH:
            from unsloth import FastLanguageModel
            if not fast_inference:
                print("[model] generation through Hugging Face generate" +
                      ("" if HAS_VLLM else " (install vllm for Unsloth's much faster fast_inference)"))
            model, tokenizer = FastLanguageModel.from_pretrained(
                model_name=args.model, max_seq_length=args.max_seq_length, load_in_4bit=args.load_in_4bit,
                fast_inference=fast_inference, max_lora_rank=args.lora_r,
                gpu_memory_utilization=args.gpu_memory_utilization)
            model = FastLanguageModel.get_peft_model(
                model, r=args.lora_r, lora_alpha=args.lora_alpha, target_modules=args.lora_target_modules,
                use_gradient_checkpointing="unsloth" if gradient_checkpointing else False,
                random_state=args.lora_random_state)
        else:
            model, tokenizer = _load_peft_model(args, fast_inference)
    except (OSError, RuntimeError) as e:  # a folder that holds no model, a download cut off (Unsloth: RuntimeError)
        if isinstance(e, RuntimeError) and "Failed to load model" not in str(e):
            raise
        raise RecipeError(f"cannot load model {args.model!r}: {str(e).strip().splitlines()[0]}") from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _load_peft_model(args: RecipeArguments, fast_inference: bool = False):
    """The same LoRA through transformers + PEFT: fp32 on a CPU, bf16 on a GPU; bitsandbytes NF4 with load_in_4bit.
    With --full_finetune, the model itself, every weight trainable."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    if DISTRIBUTED:
        print(f"[model] accelerate, processes: {NUM_PROCESSES}; transformers + PEFT, Hugging Face generation")
    elif HAS_CUDA:
        print("[model] GRPO_ENGINE=trl: transformers + PEFT, " +
              ("TRL's vLLM generation" if fast_inference else "Hugging Face generation") + " (no Unsloth)")
    else:
        print("[model] no CUDA GPU: transformers + PEFT on the CPU instead of Unsloth (fine for tests and tiny models)")
    dtype = torch.bfloat16 if HAS_CUDA else torch.float32
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_compute_dtype=dtype) if args.load_in_4bit else None
    if not HAS_CUDA or USES_DEEPSPEED:
        device_map = None  # the CPU; or ZeRO-3, which partitions the weights between the GPUs as they load
    elif DISTRIBUTED:
        device_map = {"": LOCAL_RANK}  # the whole model on this process's GPU; FSDP2 shards it when training starts
    else:
        device_map = "cuda"
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype, quantization_config=quantization,
                                                 device_map=device_map)
    for module in model.modules():
        # bitsandbytes 0.50 repacks 4-bit weights for fast CPU inference the first time the model generates in eval
        # mode, and training on the repacked weights then fails: keep the plain format.
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if args.full_finetune:
        print("[model] full fine-tuning: every weight trains, no LoRA")
        return model, tokenizer
    torch.manual_seed(args.lora_random_state)
    lora = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, target_modules=args.lora_target_modules,
                      task_type="CAUSAL_LM")
    # ZeRO-3 gathers a module's weights into one buffer of one dtype: keep the LoRA in bf16 beside the bf16 weights
    # (PEFT would make it fp32), as TRL does when it builds the LoRA itself.
    return get_peft_model(model, lora, autocast_adapter_dtype=not USES_DEEPSPEED), tokenizer


# --- Runs: a folder each, resumed from its newest complete checkpoint, stopped cleanly -----------------------------

RESUME_LAST = ("last", "latest", "true", "yes")  # --resume_from_checkpoint values that take the newest checkpoint
NO_RESUME = ("", "none", "false", "no")
# What transformers' Trainer can load a checkpoint's weights from: a model's or a LoRA's files, FSDP's sharded
# folders, DeepSpeed's global_step folders.
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
           "pytorch_model.bin", "pytorch_model.bin.index.json")
SHARDED_WEIGHTS = ("pytorch_model_fsdp", "global_step")


def check_output_dir(training_args: GRPOConfig, folder: str | None = None) -> None:
    """A new run needs a folder of its own: one that already holds files (an earlier run's checkpoints, adapter,
    evaluations) is refused, so that earlier work is never overwritten and two runs never mix in one folder. A run
    resumed from a checkpoint of its folder goes on in it. `folder`: what to check, for a recipe that lays out its
    output itself (default: --output_dir)."""
    folder = folder or training_args.output_dir
    wanted = str(training_args.resume_from_checkpoint or "")
    if wanted.lower() in RESUME_LAST or (wanted.lower() not in NO_RESUME and os.path.abspath(
            os.path.dirname(os.path.normpath(wanted))) == os.path.abspath(training_args.output_dir)):
        return
    if os.path.isdir(folder) and os.listdir(folder):
        raise RecipeError(f"{folder} already holds a run: continue it with --resume_from_checkpoint last, or start a "
                          "new run with another --output_dir")


def checkpoint_problem(path: str) -> str | None:
    """What a checkpoint folder lacks to be resumed from, or None: the trainer's state (saved last, after the
    weights, optimizer and scheduler, so a save cut short has none) and the model's or adapter's weights."""
    try:
        with open(os.path.join(path, "trainer_state.json")) as f:
            json.load(f)
    except FileNotFoundError:
        return "no trainer_state.json"
    except (OSError, ValueError):
        return "trainer_state.json is cut short"
    if not any(name in WEIGHTS or name.startswith(SHARDED_WEIGHTS) for name in os.listdir(path)):
        return "no model or adapter weights"
    return None


def newest_checkpoint(folder: str) -> tuple[str | None, list[str]]:
    """The complete checkpoint-N in `folder` with the highest step N, and the newer ones passed over, each with what
    it lacks (what a kill during a save leaves)."""
    passed = []
    for path in reversed(sort_checkpoints(folder)):  # by step number: checkpoint-10 after checkpoint-9
        problem = checkpoint_problem(path)
        if problem is None:
            return path, passed
        passed.append(f"{path} ({problem})")
    return None, passed


def resume_checkpoint(training_args: GRPOConfig) -> str | None:
    """The checkpoint this run continues from: none for a new run; for `--resume_from_checkpoint last` (or `true`)
    the newest complete one in the output folder, saying which incomplete ones it passed over; else the folder given.
    `last` is settled once: the evaluation and the training that ask next get the same checkpoint."""
    wanted = training_args.resume_from_checkpoint
    if wanted is None or str(wanted).lower() in NO_RESUME:
        return None
    if str(wanted).lower() not in RESUME_LAST:
        if not os.path.isdir(wanted):
            raise RecipeError(f"no checkpoint folder at {wanted}")
        if problem := checkpoint_problem(wanted):
            raise RecipeError(f"cannot resume from {wanted}: {problem}")
        return wanted
    out = training_args.output_dir
    last, passed = newest_checkpoint(out) if os.path.isdir(out) else (None, [])
    for checkpoint in passed:
        print(f"[train] passing over the incomplete {checkpoint}")
    if last is None:
        way_on = ("leave out --resume_from_checkpoint to start a new run" if not os.path.isdir(out) or not
                  os.listdir(out) else "start a new run with another --output_dir")
        complete = "complete " if passed else ""
        raise RecipeError(f"no {complete}checkpoint to resume from in {out}: {way_on}")
    training_args.resume_from_checkpoint = last
    return last


class StopOnSignal(TrainerCallback):
    """Ctrl-C (SIGINT) or SIGTERM (a cluster's pre-emption, the launcher stopping) during training: the step under way
    ends, a checkpoint is saved and training stops; a second Ctrl-C stops at once. Used as `with StopOnSignal(): ...`
    around `trainer.train()`, which it ends quietly on a Ctrl-C; `signal` is then the signal that stopped it."""

    def __init__(self):
        self.signal = None
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Python takes signals in its main thread only
            for signum in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(signum) is not signal.SIG_IGN:  # a run started with nohup keeps ignoring them
                    self.previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, kind, error, traceback):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if kind is KeyboardInterrupt:
            self.signal = signal.SIGINT
            return True
        return False

    def handle(self, signum, frame):
        if self.signal is None and IS_MAIN_PROCESS:
            again = " (Ctrl-C again stops at once)" if signum == signal.SIGINT else ""
            # os.write, not print: the signal may come while the progress bar is writing to the same stream
            os.write(2, f"\n[train] {signal_name(signum)}: saving a checkpoint at the end of this step, then "
                        f"stopping{again}\n".encode())
        self.signal = self.signal or signum
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_step_end(self, args, state, control, **kwargs):
        signum = self.signal or 0
        if NUM_PROCESSES > 1:  # every process stops at the same step, or the others would wait for it forever
            flag = torch.tensor(signum, device=args.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            signum = int(flag.item())
            self.signal = self.signal or signum or None
        if signum:
            control.should_save = control.should_training_stop = True


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def stopped(trainer, training_args: GRPOConfig, signum: int):
    """End a run stopped by a signal with one line that says where it can continue from; the exit status is the
    shell's for that signal (130 for Ctrl-C, 143 for SIGTERM)."""
    name = signal_name(signum)
    step = trainer.state.global_step
    last, _ = newest_checkpoint(training_args.output_dir)
    way_on = "to continue, run the same command with --resume_from_checkpoint last"
    if last is None:
        line = f"[train] stopped by {name} at step {step}, before its first checkpoint: start a new run with another " \
               "--output_dir"
    elif os.path.basename(last) == f"checkpoint-{step}":
        line = f"[train] stopped by {name} at step {step}, saved in {last}: {way_on}"
    else:
        line = f"[train] stopped by {name} at step {step}; the newest checkpoint is {last}: {way_on}"
    if IS_MAIN_PROCESS:
        print(line, file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def step_line(logs: dict, step: int, max_steps: int) -> str:
    """A logged step as one line: the reward, each reward function's mean, the completions' mean length and the share
    of them cut off at max_completion_length (TRL's `reward`, `rewards/<name>/mean`, `completions/mean_length`,
    `completions/clipped_ratio`). Every logged number still goes to log_history.json."""
    if "train_runtime" in logs:
        return f"[train] {step} steps in {logs['train_runtime']:.1f} s"
    if "reward" not in logs:  # something else a trainer or callback logs
        return "[train] " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items())
    each = ", ".join(f"{key.split('/')[1]} {value:.3f}" for key, value in logs.items()
                     if key.startswith("rewards/") and key.endswith("/mean"))
    return (f"[train] step {step}/{max_steps}: reward {logs['reward']:.3f}" + (f" ({each})" if each else "")
            + f", length {logs.get('completions/mean_length', 0):.1f} tokens, "
            f"truncated {100 * logs.get('completions/clipped_ratio', 0):.0f} %")


class StepProgress(ProgressCallback):
    """Transformers' progress bar, with a `step_line` for each logged step instead of the whole metrics dict."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.write(step_line(logs, state.global_step, state.max_steps))


class StepPrinter(PrinterCallback):
    """A `step_line` for each logged step, with --disable_tqdm (no progress bar)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            print(step_line(logs, state.global_step, state.max_steps))


def print_step_lines(trainer) -> None:
    """The trainer prints a `step_line` for each logged step (a dict of about 25 numbers otherwise)."""
    for theirs, ours in ((ProgressCallback, StepProgress), (PrinterCallback, StepPrinter)):
        if trainer.pop_callback(theirs) is not None:
            trainer.add_callback(ours)


def train(trainer, args: RecipeArguments, training_args: GRPOConfig) -> str:
    """Train (continuing from a checkpoint if asked), then save the LoRA adapter and the logged history.
    Ctrl-C or SIGTERM saves a checkpoint at the end of the step and exits (see StopOnSignal).
    Returns the adapter's folder."""
    print_step_lines(trainer)
    trainer.add_callback(KeepCompletions(trainer))  # a sample of what the model wrote, for the report
    checkpoint = resume_checkpoint(training_args)
    if checkpoint:
        print(f"[train] resuming from {checkpoint}")
    stop = StopOnSignal()
    trainer.add_callback(stop)
    with stop:
        trainer.train(resume_from_checkpoint=checkpoint)
    if stop.signal:
        stopped(trainer, training_args, stop.signal)

    if HAS_CUDA:
        print_peak_memory()
    out = training_args.output_dir
    adapter_dir = os.path.join(out, "model" if args.full_finetune else "adapter")
    if DISTRIBUTED:
        trainer.save_model(adapter_dir)  # gathers sharded weights (FSDP2, ZeRO-3); the first process writes
    else:
        trainer.model.save_pretrained(adapter_dir)
        trainer.processing_class.save_pretrained(adapter_dir)
    write_json(os.path.join(out, "log_history.json"), trainer.state.log_history)
    if NUM_PROCESSES > 1:
        torch.distributed.barrier()  # the other processes may read the saved files next (the next stage's start)
    print(f"[train] {'model' if args.full_finetune else 'LoRA adapter'} saved to {adapter_dir}")
    if args.save_merged and IS_MAIN_PROCESS:
        save_merged(args.model, adapter_dir, os.path.join(out, "merged-16bit"))
    return adapter_dir


def print_peak_memory() -> None:
    """The most GPU memory PyTorch held during the run: on each GPU, when there are several."""
    peak = (torch.cuda.max_memory_allocated() / 2**30, torch.cuda.max_memory_reserved() / 2**30)
    if NUM_PROCESSES == 1:
        print(f"[train] peak GPU memory: {peak[0]:.2f} GiB allocated, {peak[1]:.2f} GiB reserved by PyTorch")
        return
    peaks = gather(peak)
    print("[train] peak GPU memory per process, GiB allocated / reserved by PyTorch: "
          + ", ".join(f"{rank}: {a:.2f} / {r:.2f}" for rank, (a, r) in enumerate(peaks)))


def write_json(path: str, data) -> None:
    """`data` as JSON at `path`, written by the first process only."""
    if not IS_MAIN_PROCESS:
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def save_merged(base_model: str, adapter_dir: str, out_dir: str) -> None:
    """Base model in 16-bit with the adapter merged in: a plain transformers model for vLLM, llama.cpp, the hub.
    Done on the CPU from the full-precision base, so no 4-bit rounding is baked into the weights."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.bfloat16, device_map="cpu")
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
    print(f"[train] merged 16-bit model saved to {out_dir}")


# --- Evaluation -----------------------------------------------------------------------------------------------

def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int,
             lora_path: str | None = None, desc: str = "eval") -> tuple[list[str], list[int]]:
    """Greedy completions of chat prompts and their lengths in tokens: through vLLM when the model has an engine
    (Unsloth's `fast_inference`), else batched Hugging Face generation. A prompt that ends with an assistant message
    continues that message (a pre-filled "<think>"); a prompt given as text is used as it is."""
    from trl.data_utils import maybe_apply_chat_template

    texts = [maybe_apply_chat_template({"prompt": p}, tokenizer)["prompt"] for p in prompts]
    if getattr(model, "vllm_engine", None) is not None:
        from vllm import SamplingParams
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        lora = model.load_lora(lora_path) if lora_path else None
        outputs = model.fast_generate(texts, sampling_params=params, lora_request=lora)
        return [o.outputs[0].text for o in outputs], [len(o.outputs[0].token_ids) for o in outputs]
    return _hf_generate(model, tokenizer, texts, max_new_tokens, batch_size, desc)


def _hf_generate(model, tokenizer, texts, max_new_tokens, batch_size, desc):
    if USE_UNSLOTH:
        from unsloth import FastLanguageModel
        FastLanguageModel.for_inference(model)
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    completions, lengths = [], []
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            for row in out[:, batch["input_ids"].shape[1]:]:
                ids = [t for t in row.tolist() if t != tokenizer.pad_token_id]
                completions.append(tokenizer.decode(ids, skip_special_tokens=True))
                lengths.append(len(ids))
    finally:
        tokenizer.padding_side = side
        if USE_UNSLOTH:
            FastLanguageModel.for_training(model)
        model.train()
    return completions, lengths


def generate_shared(model, tokenizer, prompts: list, max_new_tokens: int, batch_size: int,
                    lora_path: str | None = None, desc: str = "eval") -> tuple[list[str], list[int]]:
    """`generate`, with the prompts split between the processes of a multi-process run and the completions gathered
    back in order on every process. Each process gets as many prompts (the last prompt fills up the last share), so
    that under FSDP2 and ZeRO-3, where every forward pass is a collective operation, all run as many batches."""
    if not DISTRIBUTED:
        return generate(model, tokenizer, prompts, max_new_tokens, batch_size, lora_path, desc)
    prompts = list(prompts)
    share = -(-len(prompts) // NUM_PROCESSES)
    padded = prompts + prompts[-1:] * (share * NUM_PROCESSES - len(prompts))
    with _whole_weights(model):
        texts, lengths = generate(model, tokenizer, padded[RANK * share:(RANK + 1) * share], max_new_tokens,
                                  batch_size, lora_path, desc)
    gathered = [pair for part in gather(list(zip(texts, lengths))) for pair in part][:len(prompts)]
    return [text for text, _ in gathered], [n for _, n in gathered]


def gather(value) -> list:
    """`value` from every process of a multi-process run, in process order."""
    if NUM_PROCESSES == 1:
        return [value]
    values = [None] * NUM_PROCESSES
    torch.distributed.all_gather_object(values, value)
    return values


def _whole_weights(model):
    """ZeRO-3 keeps a slice of each weight on each GPU: gather them for generation (as TRL does), or the model cannot
    run before training. FSDP2 gathers its shards itself, layer by layer."""
    if not USES_DEEPSPEED:
        return contextlib.nullcontext()
    import deepspeed
    return deepspeed.zero.GatheredParameters(list(model.parameters()))


def evaluate(model, tokenizer, dataset, task: Task, max_new_tokens: int, batch_size: int = 64,
             lora_path: str | None = None, desc: str = "eval") -> dict:
    """Accuracy, format compliance and mean completion length over `dataset` (`prompt` and `answer` columns)."""
    completions, lengths = generate_shared(model, tokenizer, dataset["prompt"], max_new_tokens, batch_size,
                                           lora_path, desc)
    records = [{"question": row.get("question"), "gold": row["answer"], "completion": text, "tokens": n,
                "correct": task.is_correct(text, row["answer"]), "format": task.follows_format(text)}
               for row, text, n in zip(dataset, completions, lengths)]
    if task.is_lenient_correct:
        for record in records:
            record["lenient"] = task.is_lenient_correct(record["completion"], record["gold"])
    count = max(len(records), 1)
    result = {"task": task.name, "n": len(records),
              "accuracy": 100 * sum(r["correct"] for r in records) / count,
              "format_rate": 100 * sum(r["format"] for r in records) / count,
              "mean_completion_tokens": sum(r["tokens"] for r in records) / count}
    if task.is_lenient_correct:
        result["lenient_accuracy"] = 100 * sum(r["lenient"] for r in records) / count
    return {**result, "records": records}


def read_evaluation(path: str, key: str) -> dict | None:
    """An earlier `evaluate_sets` result in `path` on the same evaluation sets (`key`), if there is one."""
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        result = json.load(f)
    return result if isinstance(result, dict) and result.get("eval_set") == key else None


def evaluate_sets(path: str, key: str, sets: dict, model, tokenizer, task: Task, max_new_tokens: int,
                  batch_size: int = 64, lora_path: str | None = None, desc: str = "eval", reuse: bool = False) -> dict:
    """`evaluate` on each named set, into one JSON file: {"eval_set": key, "sets": {name: result}}, every completion
    included. `key` names what was evaluated (a test folder, "generated"): with `reuse`, an earlier file with the same
    key is read instead (resumed runs). The task's `extra(result, dataset)` adds entries to each set's result; its
    `headline(result)` is the percentage printed for each set."""
    if reuse and (earlier := read_evaluation(path, key)) is not None:
        print(f"[eval] reusing {path}")
        return earlier
    results = {}
    for name, dataset in sets.items():
        result = evaluate(model, tokenizer, dataset, task, max_new_tokens, batch_size, lora_path, f"{desc} {name}")
        results[name] = {**result, **task.extra(result, dataset)} if task.extra else result
    write_json(path, {"eval_set": key, "sets": results})
    print(f"[eval] {desc}: " + ", ".join(f"{name} {task.headline(r):.1f} %" for name, r in results.items())
          + f" -> {path}")
    return {"eval_set": key, "sets": results}


def limited(sets: dict, limit: int | None) -> dict:
    """Each set cut to its first `limit` rows (--eval_limit)."""
    if limit is None:
        return sets
    return {name: rows.select(range(min(limit, len(rows)))) for name, rows in sets.items()}


def evaluate_stage(stage: str, model, tokenizer, sets: dict, task: Task, args: RecipeArguments,
                   training_args: GRPOConfig, lora_path: str | None = None, key: str | None = None,
                   folder: str | None = None) -> dict | None:
    """The recipe's `before` or `after` evaluation of its sets (`load_eval_sets`) into
    `<folder or output_dir>/eval_<stage>.json`, unless `--skip_eval`. `key` names the sets (default: their names).
    A resumed run reuses the `before` result it already has of the same sets."""
    if args.skip_eval:
        return None
    return evaluate_sets(os.path.join(folder or training_args.output_dir, f"eval_{stage}.json"),
                         key or " + ".join(sets), limited(sets, args.eval_limit), model, tokenizer, task,
                         training_args.max_completion_length, args.eval_batch_size, lora_path, desc=f"eval {stage}",
                         reuse=stage == "before" and resume_checkpoint(training_args) is not None)


def results_table(before: dict | None, after: dict | None, published: tuple[float, float] | None) -> str:
    """The before/after table a run ends with, for each evaluation set (`evaluate_sets` results), beside the published
    numbers."""
    def cell(result, key, unit):
        return "-" if result is None or key not in result else f"{result[key]:.2f}{unit}"

    if before is None and after is None:
        return "(not evaluated: --skip_eval)"
    blocks = []
    for name in (after or before)["sets"]:
        first, last = ((r or {}).get("sets", {}).get(name) for r in (before, after))
        rows = [("accuracy", "accuracy", " %"), ("lenient accuracy", "lenient_accuracy", " %"),
                ("format compliance", "format_rate", " %"), ("mean completion tokens", "mean_completion_tokens", "")]
        has_lenient = any(r and "lenient_accuracy" in r for r in (first, last))
        rows = [row for row in rows if row[1] != "lenient_accuracy" or has_lenient]
        lines = [f"{'':24}{'before':>12}{'after':>12}" + ("   published (before -> after)" if published else ""),
                 *(f"{label:24}{cell(first, key, unit):>12}{cell(last, key, unit):>12}" for label, key, unit in rows)]
        if published:
            lines[1] += f"   {published[0]:.2f} % -> {published[1]:.2f} %"
        n = (last or first or {}).get("n")
        if n:
            lines.append(f"({n} questions of the {name} set, greedy decoding)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def one_line_errors(main: Callable, *args):
    """`main(*args)`, where a problem with the user's input (a RecipeError) ends the program with one line, not a
    traceback. Any other error is a bug, in the recipe or in a user's own code (a reward function): its traceback
    shows."""
    try:
        result = main(*args)
    except RecipeError as e:
        raise SystemExit(f"error: {e}") from None
    except KeyboardInterrupt:  # outside training (loading, evaluating): nothing to save
        print("stopped by Ctrl-C", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
    if DISTRIBUTED and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # else the processes may abort on the way out
    return result


def run(main: Callable, defaults: dict) -> None:
    """The `__main__` of a recipe: parse flags over its defaults, check the output folder is free (or resumed), run,
    and report input errors in one line."""
    def parsed_and_run():
        args, training_args = parse_args(defaults)
        check_output_dir(training_args)
        return main(args, training_args)

    one_line_errors(parsed_and_run)
