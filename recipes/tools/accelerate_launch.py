"""`accelerate launch`, with one line instead of torch's traceback when a training process fails: that process's own
output (a recipe's one-line error, or a bug's traceback) is already above it. Run by recipes/tools/launch.py.

A Ctrl-C or SIGTERM is passed on to the training processes as it came, and the launch waits for them: they save a
checkpoint at the end of the step under way and stop (a second Ctrl-C stops them at once), as on one GPU. torchrun's
own handling would send them the signal and kill them 30 s later, in the middle of a longer step, before its
checkpoint; and end in its traceback. A third Ctrl-C (or SIGTERM) kills them: for a process stuck where no signal
reaches its Python code (waiting on the other GPUs, say)."""

import logging
import os
import signal
import sys

import psutil
from accelerate.commands.launch import launch_command, launch_command_parser
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

# torchrun's --signals_to_handle (its default, from the environment): it handles the others as before, and SIGINT and
# SIGTERM are ours
os.environ["PET_SIGNALS_TO_HANDLE"] = "SIGHUP,SIGQUIT"


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its own account of the failure
    received = []

    def pass_on(signum, frame):
        received.append(signum)
        workers = psutil.Process().children()
        if not workers:  # none started yet (or all ended): stop here, as torchrun would
            raise SystemExit(128 + signum)
        if len(received) >= 3:
            os.write(2, b"\n[launch] stopped three times: killing the training processes\n")
        for worker in workers:
            try:
                worker.send_signal(signal.SIGKILL if len(received) >= 3 else signum)
            except psutil.NoSuchProcess:
                pass

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, pass_on)
    try:
        launch_command(launch_command_parser().parse_args(argv))
    except ChildFailedError as e:
        rank, failure = min(e.failures.items(), key=lambda item: item[1].timestamp)  # the first to fail
        if received:  # stopped by the signal: each process has said where it stopped
            raise SystemExit(failure.exitcode if failure.exitcode > 0 else 128 + received[0]) from None
        raise SystemExit(f"[launch] training stopped: process {rank} exited with code {failure.exitcode} (its "
                         "output above says why)") from None


if __name__ == "__main__":
    main(sys.argv[1:])
