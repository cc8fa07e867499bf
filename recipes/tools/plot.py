"""Draw a run's training curves from the trainer's logged history into PNG files in the run's folder.

    make plot RUN=outputs/gsm8k-0.5b
    python -m recipes.tools.plot outputs/gsm8k-0.5b

Reads `log_history.json` (written at the end of a run) or, for a run still going or killed, the newest
`checkpoint-*/trainer_state.json`. Draws the mean reward, each reward function's mean, the mean completion length
and the share of completions cut off at the length limit.
"""

import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

PANELS = [  # (file name, title, logged keys: a key ending in "/" takes every key starting with it)
    ("reward.png", "mean reward", ["reward", "rewards/"]),
    ("completion_length.png", "mean completion length (tokens)", ["completions/mean_length"]),
    ("truncated.png", "share of completions cut off at the length limit", ["completions/clipped_ratio"]),
]


def load_history(run_dir: str) -> list[dict]:
    """The logged history of a run folder: the final log, else the newest checkpoint's."""
    final = os.path.join(run_dir, "log_history.json")
    if os.path.isfile(final):
        with open(final) as f:
            return json.load(f)
    states = glob.glob(os.path.join(run_dir, "checkpoint-*", "trainer_state.json"))
    if not states:
        raise FileNotFoundError(f"no log_history.json or checkpoint-*/trainer_state.json in {run_dir}")
    newest = max(states, key=lambda p: int(p.split("checkpoint-")[-1].split(os.sep)[0]))
    with open(newest) as f:
        return json.load(f)["log_history"]


def series(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    rows = [(h["step"], h[key]) for h in history if key in h and "step" in h]
    return [s for s, _ in rows], [float(v) for _, v in rows]


def plot_run(run_dir: str) -> list[str]:
    """Write one PNG per panel into `run_dir`; returns their paths."""
    history = load_history(run_dir)
    logged = sorted({k for h in history for k in h})
    written = []
    for filename, title, wanted in PANELS:
        keys = [k for k in logged if any(k == w or (w.endswith("/") and k.startswith(w) and k.endswith("/mean"))
                                         for w in wanted)]
        if not keys:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        for key in keys:
            ax.plot(*series(history, key), label=key, marker="." if len(series(history, key)[0]) < 50 else None)
        ax.set(title=f"{title}: {os.path.basename(os.path.abspath(run_dir))}", xlabel="step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
        path = os.path.join(run_dir, filename)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    if not written:
        raise ValueError(f"the history in {run_dir} has no reward or completion metrics to draw")
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m recipes.tools.plot RUN_FOLDER")
    try:
        for path in plot_run(sys.argv[1]):
            print(path)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
