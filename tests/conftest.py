"""Shared fixtures: a tiny random Qwen2 with a locally trained tokenizer (no hub), and the real datasets in
../shared/data when the checkout has them beside it (CI does; a user's clone does not)."""

import os
from pathlib import Path

import pytest

from recipes.tools.random_model import CHATML

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

CORPUS = [
    "Respond in the following format: <reasoning> ... </reasoning> <validate> ... </validate> <answer> ... </answer>",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips"
    " did she sell altogether? She earns $12 an hour. What is the total number of apples, minutes, dollars?",
    "Break the problem down and reason through it step by step. Criticise the reasoning above. If you see something"
    " wrong, start with 'wait'. The final answer as an integer, justified by the validation.",
    "0 1 2 3 4 5 6 7 8 9 10 12 24 48 72 100 1,080 bbbb aaaa",
]


def build_tiny_model(path: Path, vocab_size: int = 512, seed: int = 0) -> Path:
    """A 2-layer Qwen2 (hidden 64) with a byte-level BPE tokenizer and a ChatML template. `initializer_range=0.2`
    lets a LoRA on it learn (with the default 0.02 its tiny frozen output head blocks learning)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    fast.save_pretrained(path)

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         initializer_range=0.2, tie_word_embeddings=False, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id)
    Qwen2ForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2")))


@pytest.fixture(scope="session")
def gsm8k_dir() -> str:
    path = SHARED_DATA / "gsm8k"
    if not (path / "train.jsonl").is_file():
        pytest.skip(f"real GSM8K files not found at {path} (CI has ../shared beside the checkout; clones do not)")
    return str(path)


@pytest.fixture(scope="session")
def kk_dir() -> Path:
    """Logic-RL's Knights and Knaves files (CC BY-NC-SA: read from ../shared/data, never copied into the project)."""
    path = SHARED_DATA / "knights_knaves"
    if not (path / "5ppl" / "test.parquet").is_file():
        pytest.skip(f"Logic-RL's K&K files not found at {path} (CI has ../shared beside the checkout; clones do not)")
    return path


@pytest.fixture(scope="session")
def countdown_dir() -> Path:
    """TinyZero-format Countdown files (UFT's copy: the hub's first 10,240 rows to train, the next 1,024 to test; read
    from ../shared/data, never copied into the project)."""
    path = SHARED_DATA / "countdown"
    if not (path / "train.parquet").is_file() or not (path / "test.parquet").is_file():
        pytest.skip(f"TinyZero's Countdown files not found at {path} (CI has ../shared beside the checkout; clones do "
                    "not)")
    return path


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder, so relative output paths stay out of the checkout."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
