"""`make report`: one self-contained HTML page of a run, for both shapes of evaluation file, with every model text
escaped; rendered by a real browser (headless Chromium) when the machine has one."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from recipes.tools.report import write_report
from recipes.tools.report_page import SIDE_BY_SIDE

HISTORY = [{"step": s, "reward": 0.1 * s, "rewards/correctness_reward/mean": 0.08 * s,
            "rewards/format_reward/mean": 0.02 * s, "completions/mean_length": 60 - s,
            "completions/clipped_ratio": 0.5 / s} for s in range(1, 11)] + [{"step": 10, "train_runtime": 9.0}]
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"


def records(correct: list[bool], tag: str) -> list[dict]:
    return [{"question": f"What is {i} + {i}?", "gold": str(2 * i), "tokens": 12,
             "completion": f"{tag} {i}: {HOSTILE if i == 0 else ''}<answer>{2 * i if ok else -1}</answer>",
             "correct": ok, "format": True} for i, ok in enumerate(correct)]


def result(correct: list[bool], tag: str, **more) -> dict:
    n = len(correct)
    return {"task": "demo", "n": n, "accuracy": 100 * sum(correct) / n, "format_rate": 100.0,
            "mean_completion_tokens": 12.0, "records": records(correct, tag), **more}


def write(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def sample_lines(steps) -> str:
    return "".join(json.dumps({"step": s, "prompt": "user\nWhat is 2 + 2?\nassistant\n", "completion":
                               f"step {s} says {HOSTILE}", "rewards": {"correctness_reward": 2.0 * (s > 1),
                               "format_reward": None}, "reward": 2.0 * (s > 1), "advantage": 0.5}) + "\n"
                   for s in steps for _ in range(2))


BEFORE = [False] * 30  # question 25 goes from wrong to right after the first SIDE_BY_SIDE; 26 stays wrong
AFTER = [i % 2 == 0 and i < SIDE_BY_SIDE for i in range(30)]
AFTER[25] = True


@pytest.fixture
def run_dir(tmp_path):
    """A finished one-stage run: history, one evaluation each side, kept training completions."""
    run = tmp_path / "gsm8k-0.5b"
    write(run / "log_history.json", HISTORY)
    write(run / "eval_before.json", result(BEFORE, "before"))
    write(run / "eval_after.json", result(AFTER, "after", lenient_accuracy=50.0))
    write(run / "completions.jsonl", sample_lines([1, 10, 20, 30, 40, 50]) + '{"step": 60, "prompt": "cut sh')
    return run


def read_report(run, **kwargs) -> str:
    path = write_report(str(run), **kwargs)
    assert path == str(run / "report.html")
    return (run / "report.html").read_text()


def test_a_run_gets_every_section_with_its_curves_inline(run_dir):
    page = read_report(run_dir, published=(8.87, 65.28))
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Curves", "Before and after", "The same questions, before and after",
                                                   "Training completions"]
    assert page.count("src='data:image/svg+xml;base64,") == 3  # reward, length, truncated share
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # nothing fetched
    assert "<td>accuracy</td><td>0.00 %</td><td>36.67 %</td><td>+36.67</td><td>8.87 % &rarr; 65.28 %</td>" in page
    assert "<td>lenient accuracy</td><td>-</td><td>50.00 %</td>" in page
    assert "class='missing'" not in page


def test_model_text_is_escaped_everywhere(run_dir):
    page = read_report(run_dir)
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") >= 3


def test_before_and_after_sit_side_by_side_marked_right_and_wrong(run_dir):
    page = read_report(run_dir)
    pairs = re.findall(r"<b>(\d+)\.</b>", page)
    # the first 20 questions, then the one that went from wrong to right later (26, not 27: that one stays wrong)
    assert pairs == [str(i + 1) for i in range(SIDE_BY_SIDE)] + ["26"]
    assert "30 questions: 11 went from wrong to right, 0 from right to wrong" in page
    assert page.count("<div class='side right'>") == 11 and page.count("<div class='side wrong'>") == 2 * 21 - 11
    assert "<h4>Wrong before, right after</h4>" in page


def test_training_completions_at_a_few_steps_with_their_rewards(run_dir):
    page = read_report(run_dir)
    assert re.findall(r"<h4>step (\d+)</h4>", page) == ["1", "20", "30", "50"]  # first, last, evenly between
    assert "<b>reward 2</b> (correctness_reward 2 &middot; format_reward none)" in page
    assert "step 60" not in page  # a last line cut short by a kill is passed over


def test_a_run_in_stages_with_several_evaluation_sets(tmp_path):
    run = tmp_path / "kk-7b"  # as the Knights and Knaves recipe lays it out
    sets = {"3ppl": None, "5ppl": None}
    write(run / "eval_before.json", {"eval_set": "generated", "sets": {s: result([False, True], "b") for s in sets}})
    for stage in (1, 2):
        write(run / f"stage-{stage}" / "log_history.json", HISTORY)
        write(run / f"stage-{stage}" / "completions.jsonl", sample_lines([1, 10]))
    write(run / "stage-2" / "eval_after.json", {"eval_set": "generated", "sets": {
        "3ppl": result([True, True], "a"), "5ppl": result([True, False], "a", kinds={"who": 50.0})}})
    page = read_report(run, published=(20.0, 41.0))
    assert "<th>after stage 2</th>" in page
    assert re.findall(r"<h3>(.*?)</h3>", page) == ["3ppl", "5ppl", "stage 1", "stage 2"]
    assert "Published accuracy: 20.00 % before, 41.00 % after." in page
    assert "<td>accuracy</td><td>50.00 %</td><td>100.00 %</td><td>+50.00</td>" in page
    assert "<td>kinds: who</td><td>-</td><td>50.00</td>" in page
    assert "2 questions: 1 went from wrong to right, 1 from right to wrong" in page
    assert page.count("src='data:image/svg+xml;base64,") == 3


def test_a_gold_answer_of_several_columns_and_no_question(tmp_path):
    """As the Countdown recipe writes its records: the gold answer is the row's numbers and target."""
    run = tmp_path / "countdown-3b"
    write(run / "log_history.json", HISTORY)
    for stage, ok in (("before", [False, False]), ("after", [True, False])):
        evaluation = result(ok, stage)
        for i, record in enumerate(evaluation["records"]):
            record.update(question=None, gold={"nums": [i, 7], "target": i + 7})
        write(run / f"eval_{stage}.json", {"eval_set": "test", "sets": {"test": evaluation}})
    page = read_report(run)
    assert "2 questions: 1 went from wrong to right, 0 from right to wrong" in page
    assert "<code>{&quot;nums&quot;: [1, 7], &quot;target&quot;: 8}</code>" in page


def test_missing_files_are_said_in_their_sections(tmp_path):
    write(tmp_path / "log_history.json", HISTORY)
    page = read_report(tmp_path)
    assert page.count("class='missing'") == 3
    assert "No eval_before.json or eval_after.json" in page and "No completions.jsonl" in page


@pytest.mark.parametrize("make", [lambda tmp: tmp / "nowhere", lambda tmp: tmp])
def test_a_folder_that_is_not_a_run_is_one_line_and_exit_1(tmp_path, make):
    (tmp_path / "notes.txt").write_text("not a run")
    done = subprocess.run([sys.executable, "-m", "recipes.tools.report", str(make(tmp_path))], capture_output=True,
                          text=True)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "report.html").exists()


def test_a_broken_result_file_is_one_line_too(run_dir):
    write(run_dir / "eval_after.json", '{"accuracy": 3')
    done = subprocess.run([sys.executable, "-m", "recipes.tools.report", str(run_dir)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"error: {run_dir / 'eval_after.json'} is not valid JSON (Expecting ',' delimiter: line 1 column 15 (char 14))"]


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="headless Chromium not installed (Debian: apt-get install chromium; .ci/run installs it)")
def test_a_real_browser_renders_the_page(run_dir, tmp_path):
    from PIL import Image

    page, png = write_report(str(run_dir), published=(8.87, 65.28)), tmp_path / "report.png"
    subprocess.run(["chromium", "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                    f"--screenshot={png}", "--window-size=1200,2000", f"file://{os.path.abspath(page)}"],
                   check=True, capture_output=True, timeout=120)
    assert png.stat().st_size > 50_000
    with Image.open(png) as image:
        assert image.size == (1200, 2000)
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert len(colours) > 50  # text, curves and boxes, not a blank page
    assert {(0x2a, 0x9d, 0x4a), (0xc8, 0x39, 0x2b)} <= colours  # the page's own marks: right and wrong answers


def test_only_the_first_process_writes_the_report(tmp_path, monkeypatch):
    """Under accelerate every process ends by asking for the report; the later ones must not read the files the first
    one is still writing, nor write the page a second time."""
    from recipes.tools.report import write_report

    (tmp_path / "eval_after.json").write_text("")  # being written by the first process
    monkeypatch.setenv("RANK", "1")
    assert write_report(str(tmp_path)) == str(tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()
