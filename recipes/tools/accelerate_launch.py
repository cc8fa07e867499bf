"""`accelerate launch`, with one line instead of torch's traceback when a training process fails: that process's own
output (a recipe's one-line error, or a bug's traceback) is already above it. Run by recipes/tools/launch.py."""

import logging
import sys

from accelerate.commands.launch import launch_command, launch_command_parser
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its own account of the failure
    try:
        launch_command(launch_command_parser().parse_args(argv))
    except ChildFailedError as e:
        rank, failure = min(e.failures.items(), key=lambda item: item[1].timestamp)  # the first to fail
        raise SystemExit(f"[launch] training stopped: process {rank} exited with code {failure.exitcode} (its "
                         "output above says why)") from None


if __name__ == "__main__":
    main(sys.argv[1:])
