"""Training completions kept: a real GRPO run on a tiny model writes completions.jsonl, bounded, and a resumed run
goes on in it without a step twice."""

import json
import os
from types import SimpleNamespace

from datasets import Dataset
from trl import GRPOTrainer

from recipes.common.args import parse_args
from recipes.common.model import load_model
from recipes.common.samples import FILENAME, KeepCompletions
from recipes.tools.report import COMPLETIONS
from rewards.text import completion_text


def share_of_b(prompts, completions, **kwargs):
    texts = [completion_text(c) for c in completions]
    return [t.count("b") / len(t) if t else 0.0 for t in texts]


def none_for_odd(prompts, completions, **kwargs):
    """Not applicable (None) to every other completion: kept as null."""
    return [None if i % 2 else 1.0 for i in range(len(completions))]


def run(tiny_model, out, steps: int, resume: str | None = None, **keep):
    args, cfg = parse_args({}, [
        "--model_name_or_path", tiny_model, "--lora_r", "8", "--lora_alpha", "16", "--output_dir", str(out),
        "--max_steps", str(steps), "--per_device_train_batch_size", "4", "--num_generations", "4",
        "--max_completion_length", "24", "--logging_steps", "1", "--save_steps", "2", "--seed", "0",
        "--reward_weights", "1.0", "0.5"])
    model, tokenizer = load_model(args)
    prompts = Dataset.from_list([{"prompt": [{"role": "user", "content": "say b"}]}] * 64)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[share_of_b, none_for_odd], args=cfg,
                          train_dataset=prompts)
    trainer.add_callback(KeepCompletions(trainer, **keep))
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def read(out) -> list[dict]:
    with open(os.path.join(out, FILENAME), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_a_run_keeps_first_every_nth_and_last_step_with_rewards(tiny_model, tmp_path):
    run(tiny_model, tmp_path, steps=5, every=2, per_step=3, max_chars=30)
    records = read(tmp_path)
    assert [r["step"] for r in records] == [1] * 3 + [2] * 3 + [4] * 3 + [5] * 3
    for r in records:
        assert set(r) == {"step", "prompt", "completion", "rewards", "reward", "advantage"}
        assert "say b" in r["prompt"]
        assert len(r["completion"]) <= 30 or r["completion"][30:].startswith(" [... ")
        assert set(r["rewards"]) == {"share_of_b", "none_for_odd"}
        assert 0 <= r["rewards"]["share_of_b"] <= 1
        others = r["rewards"]["none_for_odd"]
        assert r["reward"] == r["rewards"]["share_of_b"] + (0.5 * others if others is not None else 0)
    assert [r["rewards"]["none_for_odd"] for r in records[:3]] == [1.0, None, 1.0]


def test_a_resumed_run_goes_on_without_a_step_twice(tiny_model, tmp_path):
    run(tiny_model, tmp_path, steps=3, every=1, per_step=2)
    first = read(tmp_path)
    assert [r["step"] for r in first] == [1, 1, 2, 2, 3, 3]
    # as if killed after step 3, before its checkpoint: the run goes on from checkpoint-2 to step 4, and trains
    # step 3 again; what the stopped run kept of step 3 goes (a line cut short too), the new step 3 is kept
    with open(tmp_path / FILENAME, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({**r, "completion": "stopped run"} if r["step"] == 3 else r) + "\n" for r in first)
        f.write('{"step": 3, "prompt": "cut sh')  # the kill came while writing
    run(tiny_model, tmp_path, steps=4, resume=str(tmp_path / "checkpoint-2"), every=1, per_step=2)
    records = read(tmp_path)
    assert [r["step"] for r in records] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert records[:4] == first[:4]  # what was kept up to the checkpoint stays as it was
    assert "stopped run" not in [r["completion"] for r in records]


def test_the_file_stays_under_its_bound_and_still_gets_the_last_step(tiny_model, tmp_path):
    keep = dict(every=1, per_step=2, max_chars=20)
    room = KeepCompletions(None, **keep).last_step_room
    run(tiny_model, tmp_path, steps=6, max_bytes=room + 600, **keep)
    steps = [r["step"] for r in read(tmp_path)]
    assert os.path.getsize(tmp_path / FILENAME) <= room + 600
    assert 6 in steps and len(set(steps)) < 6  # some middle steps left out, the last one kept


def test_the_report_reads_the_file_written_here():
    assert COMPLETIONS == FILENAME


def test_a_trainer_without_logs_trains_on_and_keeps_nothing(tmp_path):
    keep = KeepCompletions(SimpleNamespace())
    args, state = SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(global_step=1, max_steps=1)
    keep.on_train_begin(args, state, None)
    keep.on_step_end(args, state, None)
    keep.on_train_end(args, state, None)
    assert not os.listdir(tmp_path)
