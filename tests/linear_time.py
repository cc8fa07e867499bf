"""Scoring what a model in collapse writes (hundreds of kilobytes of repeated keys and tags) in a fresh Python,
so that a reward which backtracks fails a test by running out of time instead of hanging the suite."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A linear reward needs well under a second for all the inputs of one test; a backtracking regex needs hours for
# one of them. The bound sits far from both, so it never flakes on a busy machine.
LIMIT_S = 120


def scored_in_a_fresh_python(code: str, data):
    """Run `code` at the checkout's root with `data` (JSON) bound to the name `data`, and return the JSON value that
    it prints; fail the test if it runs past LIMIT_S seconds."""
    try:
        done = subprocess.run([sys.executable, "-c", "import json, sys; data = json.load(sys.stdin)\n" + code],
                              input=json.dumps(data), cwd=ROOT, capture_output=True, text=True, timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still scoring after {LIMIT_S} s: not linear time")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
