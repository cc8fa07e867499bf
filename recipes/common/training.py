"""Training: `train` runs GRPOTrainer (resumed from a checkpoint if asked), prints one line a logged step, stops
cleanly on Ctrl-C or SIGTERM with a checkpoint saved, and saves the adapter and the logged history."""

import os
import signal
import sys
import threading
import time

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import GRPOConfig

from recipes.common.args import RecipeArguments
from recipes.common.checkpoints import newest_checkpoint, resume_checkpoint
from recipes.common.model import save_merged
from recipes.common.processes import gather, write_json
from recipes.common.samples import KeepCompletions
from recipes.common.start import DISTRIBUTED, HAS_CUDA, IS_MAIN_PROCESS, NUM_PROCESSES


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


class GenerationTime(TrainerCallback):
    """Logs `generate_time` beside TRL's `step_time`: the seconds a step spent generating its completions (on this
    process; through vLLM or Hugging Face generation), so log_history.json tells the generation's share of a step.
    `seconds` and `tokens` (completion tokens generated) are totals since training started."""

    def __init__(self, trainer):
        self.trainer, self.seconds, self.tokens, self.logged = trainer, 0.0, 0, 0.0
        generate = trainer._generate_single_turn

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                generated = generate(*args, **kwargs)  # (completion ids, their log-probs)
                self.tokens += sum(len(ids) for ids in generated[0])
                return generated
            finally:
                self.seconds += time.perf_counter() - start

        trainer._generate_single_turn = timed

    def on_step_end(self, args, state, control, **kwargs):  # before the step's metrics are logged
        self.trainer._metrics["train"]["generate_time"].append(self.seconds - self.logged)
        self.logged = self.seconds


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
    trainer.add_callback(GenerationTime(trainer))
    checkpoint = resume_checkpoint(training_args)
    if checkpoint:
        print(f"[train] resuming from {checkpoint}")
        if trainer.args.device.type == "cpu" and trainer.args.device.index is not None:
            # several processes on the CPU (launch --cpu): accelerate names each one's device cpu:<rank>, and
            # transformers loads the optimizer's state onto it, a place torch.load does not know: plain "cpu"
            trainer.args.__dict__["_setup_devices"] = torch.device("cpu")
    stop = StopOnSignal()
    trainer.add_callback(stop)
    with stop:
        trainer.train(resume_from_checkpoint=checkpoint)
    if stop.signal:
        stopped(trainer, training_args, stop.signal)

    if HAS_CUDA:
        print_peak_memory()
    out = training_args.output_dir
    adapter_dir = os.path.join(out, "adapter" if args.use_peft else "model")
    if DISTRIBUTED:
        trainer.save_model(adapter_dir)  # gathers sharded weights (FSDP2, ZeRO-3); the first process writes
    else:
        trainer.model.save_pretrained(adapter_dir)
        trainer.processing_class.save_pretrained(adapter_dir)
    write_json(os.path.join(out, "log_history.json"), trainer.state.log_history)
    if NUM_PROCESSES > 1:
        torch.distributed.barrier()  # the other processes may read the saved files next (the next stage's start)
    print(f"[train] {'LoRA adapter' if args.use_peft else 'model'} saved to {adapter_dir}")
    if args.save_merged and IS_MAIN_PROCESS:
        save_merged(args.model_name_or_path, adapter_dir, os.path.join(out, "merged-16bit"))
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
