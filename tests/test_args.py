"""TRL's argument names on every recipe: ModelConfig's and ScriptArguments' flags as `trl grpo` takes them, what each
engine does with them, and one line for a flag a recipe cannot honour."""

import sys
import types

import pytest

from recipes import gsm8k_0_5b
from recipes.common import args as recipe_args
from recipes.common import model as recipe_model
from recipes.common import start
from recipes.common.args import one_line_errors, parse_args
from recipes.common.model import load_model
from recipes.tools.catalog import load_recipe, recipe_names


def refusal(defaults: dict, argv: list[str], extra=None) -> str:
    """The line a run ends with when parse_args refuses its command line."""
    with pytest.raises(SystemExit) as ended:
        one_line_errors(lambda: parse_args(defaults, argv, extra))
    line = str(ended.value.code)
    assert "\n" not in line
    return line


def test_trls_flag_names_work():
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, [
        "--model_name_or_path", "my/model", "--use_peft", "true", "--lora_r", "8", "--lora_alpha", "16",
        "--load_in_4bit", "false", "--dataset_name", "my/data", "--dataset_config", "socratic",
        "--vllm_gpu_memory_utilization", "0.7"])
    assert (args.model_name_or_path, args.use_peft, args.lora_r, args.lora_alpha, args.load_in_4bit) == \
        ("my/model", True, 8, 16, False)
    assert (args.dataset_name, args.dataset_config, cfg.vllm_gpu_memory_utilization) == ("my/data", "socratic", 0.7)


def test_plain_trl_takes_trls_own_vllm_share_unless_told(monkeypatch):
    """The recipes' vLLM shares are sized beside a 4-bit model: plain TRL (a bf16 model) keeps TRL's default."""
    assert parse_args(gsm8k_0_5b.DEFAULTS, [])[1].vllm_gpu_memory_utilization == 0.5
    monkeypatch.setattr(recipe_args, "ENGINE", "trl")
    trl_default = recipe_args.GRPOConfig.vllm_gpu_memory_utilization
    assert trl_default != 0.5
    assert parse_args(gsm8k_0_5b.DEFAULTS, [])[1].vllm_gpu_memory_utilization == trl_default
    told = ["--vllm_gpu_memory_utilization", "0.45"]
    assert parse_args(gsm8k_0_5b.DEFAULTS, told)[1].vllm_gpu_memory_utilization == 0.45


def test_a_yaml_config_with_trls_keys(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model_name_or_path: my/model\nuse_peft: true\nlora_r: 4\nlora_target_modules: [q_proj, v_proj]\n"
                      "load_in_4bit: false\ndataset_name: my/data\nvllm_gpu_memory_utilization: 0.6\n"
                      "max_steps: 3\n")
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, ["--config", str(config), "--lora_r", "2"])
    assert (args.model_name_or_path, args.use_peft, args.lora_r, args.lora_target_modules, args.load_in_4bit) == \
        ("my/model", True, 2, ["q_proj", "v_proj"], False)  # the command line still wins over the file
    assert (args.dataset_name, cfg.vllm_gpu_memory_utilization, cfg.max_steps) == ("my/data", 0.6, 3)


@pytest.mark.parametrize("argv, line", [
    (["--model", "m"], "--model is called --model_name_or_path here, as in TRL"),
    (["--model=m"], "--model is called --model_name_or_path here, as in TRL"),
    (["--full_finetune"], "--full_finetune is called --use_peft false here, as in TRL"),
    (["--gpu_memory_utilization", "0.5"], "--gpu_memory_utilization is called --vllm_gpu_memory_utilization here, as "
                                          "in TRL"),
    (["--dataset_streaming", "true"], "--dataset_streaming: no recipe reads it"),
])
def test_old_names_and_unread_trl_flags_are_told_in_one_line(argv, line):
    assert refusal(gsm8k_0_5b.DEFAULTS, argv) == f"error: {line}"


def test_an_old_name_in_a_yaml_config_is_told_too(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: my/model\n")
    assert refusal(gsm8k_0_5b.DEFAULTS, ["--config", str(config)]) == \
        "error: --model is called --model_name_or_path here, as in TRL"


NO_DATASET = [name for name in recipe_names() if "dataset_name" not in load_recipe(name).DEFAULTS]


def test_the_recipes_that_make_their_own_data():
    assert set(NO_DATASET) >= {"demo_smollm2", "knights_knaves_7b", "temporal_clue_14b"}
    assert {"gsm8k_0_5b", "gsm8k_1_5b"}.isdisjoint(NO_DATASET)


@pytest.mark.parametrize("name", NO_DATASET)
@pytest.mark.parametrize("flag", ["--dataset_name", "--dataset_train_split"])
def test_a_recipe_that_reads_no_dataset_refuses_dataset_flags(name, flag):
    recipe = load_recipe(name)
    assert refusal(recipe.DEFAULTS, [flag, "x"], getattr(recipe, "ExtraArguments", None)) == \
        f"error: {flag}: this recipe reads no dataset (it makes its own data)"


# --- The plain-TRL path (transformers + PEFT): TRL's get_peft_config and get_quantization_config -------------------

@pytest.mark.skipif(start.USE_UNSLOTH, reason="checks the path without Unsloth")
def test_use_peft_false_trains_every_weight(tiny_model):
    args, _ = parse_args(gsm8k_0_5b.DEFAULTS, ["--model_name_or_path", tiny_model, "--use_peft", "false"])
    model, _ = load_model(args)
    assert not hasattr(model, "peft_config")
    assert all(p.requires_grad for p in model.parameters())
    lora, _ = load_model(parse_args(gsm8k_0_5b.DEFAULTS, ["--model_name_or_path", tiny_model])[0])
    assert not all(p.requires_grad for p in lora.parameters())  # beside it, a LoRA trains its adapter only


@pytest.mark.skipif(start.USE_UNSLOTH, reason="checks the path without Unsloth")
def test_the_lora_and_4bit_settings_reach_the_model(tiny_model):
    args, _ = parse_args(gsm8k_0_5b.DEFAULTS, [
        "--model_name_or_path", tiny_model, "--lora_r", "4", "--lora_alpha", "8", "--lora_dropout", "0.1",
        "--use_rslora", "true", "--lora_target_modules", "q_proj", "v_proj", "--use_bnb_nested_quant", "true"])
    model, _ = load_model(args)
    lora = model.peft_config["default"]
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.use_rslora, set(lora.target_modules)) == \
        (4, 8, 0.1, True, {"q_proj", "v_proj"})
    quantization = model.config.quantization_config
    assert (quantization.load_in_4bit, quantization.bnb_4bit_quant_type, quantization.bnb_4bit_use_double_quant) == \
        (True, "nf4", True)


@pytest.mark.skipif(start.USE_UNSLOTH, reason="checks the path without Unsloth")
def test_one_lora_target_module_is_a_module_name(tiny_model):
    args, _ = parse_args(gsm8k_0_5b.DEFAULTS, ["--model_name_or_path", tiny_model, "--lora_target_modules", "q_proj"])
    model, _ = load_model(args)
    adapted = {name.split(".")[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert adapted == {"q_proj"}
    everything, _ = parse_args(gsm8k_0_5b.DEFAULTS, ["--lora_target_modules", "all-linear"])
    assert everything.lora_target_modules == "all-linear"  # PEFT's own word for every linear layer


# --- The Unsloth path: what it takes, and one line for what it cannot -----------------------------------------------

@pytest.fixture
def unsloth(monkeypatch):
    """The Unsloth path, with a stand-in for Unsloth's FastLanguageModel (which needs a CUDA GPU) that records what
    the recipe asked for."""
    calls = {}

    class FastLanguageModel:
        @staticmethod
        def from_pretrained(**kwargs):
            calls["from_pretrained"] = kwargs
            return "model", types.SimpleNamespace(pad_token="<pad>")

        @staticmethod
        def get_peft_model(model, **kwargs):
            calls["get_peft_model"] = kwargs
            return model

    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastLanguageModel=FastLanguageModel))
    monkeypatch.setattr(recipe_model, "USE_UNSLOTH", True)
    monkeypatch.setattr(recipe_args, "USE_UNSLOTH", True)
    return calls


def test_unsloth_gets_the_model_settings_it_takes(unsloth, tmp_path):
    args, cfg = parse_args(gsm8k_0_5b.DEFAULTS, [
        "--model_name_or_path", str(tmp_path), "--model_revision", "v2", "--dtype", "float16", "--load_in_4bit",
        "false", "--load_in_8bit", "true", "--lora_r", "8", "--lora_dropout", "0.1", "--use_rslora", "true",
        "--lora_modules_to_save", "lm_head", "--vllm_gpu_memory_utilization", "0.7"])
    load_model(args, cfg)
    loaded, lora = unsloth["from_pretrained"], unsloth["get_peft_model"]
    assert (loaded["model_name"], loaded["revision"], str(loaded["dtype"]), loaded["load_in_4bit"],
            loaded["load_in_8bit"], loaded["gpu_memory_utilization"]) == \
        (str(tmp_path), "v2", "torch.float16", False, True, 0.7)
    assert (lora["r"], lora["lora_dropout"], lora["use_rslora"], lora["modules_to_save"]) == (8, 0.1, True, ["lm_head"])


def test_vllm_max_num_seqs_reaches_unsloths_vllm_and_is_refused_where_nothing_reads_it(unsloth, monkeypatch,
                                                                                        tmp_path):
    monkeypatch.setattr(recipe_args, "HAS_VLLM", True)  # as on a GPU with vllm installed
    model = ["--model_name_or_path", str(tmp_path), "--use_vllm", "true"]
    load_model(*parse_args(gsm8k_0_5b.DEFAULTS, [*model, "--vllm_max_num_seqs", "98"]))
    assert (unsloth["from_pretrained"]["fast_inference"], unsloth["from_pretrained"]["max_num_seqs"]) == (True, 98)
    load_model(*parse_args(gsm8k_0_5b.DEFAULTS, model))
    assert "max_num_seqs" not in unsloth["from_pretrained"]  # Unsloth's own pick
    assert refusal(gsm8k_0_5b.DEFAULTS, ["--use_vllm", "false", "--vllm_max_num_seqs", "98"]) == \
        "error: --vllm_max_num_seqs is for Unsloth's vLLM generation (--use_vllm on a GPU): this run generates " \
        "with Hugging Face generate"
    assert refusal(gsm8k_0_5b.DEFAULTS, [*model, "--vllm_max_num_seqs", "0"]) == \
        "error: --vllm_max_num_seqs must be at least 1, not 0"
    monkeypatch.setattr(recipe_args, "USE_UNSLOTH", False)
    monkeypatch.setattr(recipe_args, "ENGINE", "trl")
    monkeypatch.setattr(recipe_args, "TRL_VLLM", True)
    assert refusal(gsm8k_0_5b.DEFAULTS, [*model, "--load_in_4bit", "false", "--vllm_max_num_seqs", "98"]) == \
        "error: --vllm_max_num_seqs is for Unsloth's vLLM generation (--use_vllm on a GPU): TRL's own vLLM " \
        "generates the generation batch at once"


def test_a_recipes_own_vllm_max_num_seqs_reaches_unsloths_vllm_and_is_dropped_where_nothing_reads_it(
        unsloth, monkeypatch, tmp_path):
    """B's default (all 98 completions of a step at once) is no flag the user gave: a run without Unsloth's vLLM
    (the CPU, Hugging Face generation, TRL's own vLLM) goes on without it instead of refusing the recipe."""
    b = load_recipe("gsm8k_1_5b").DEFAULTS
    assert b["vllm_max_num_seqs"] == b["per_device_train_batch_size"] * b["gradient_accumulation_steps"]
    monkeypatch.setattr(recipe_args, "HAS_VLLM", True)
    model = ["--model_name_or_path", str(tmp_path)]
    load_model(*parse_args(b, [*model, "--use_vllm", "true"]))
    assert unsloth["from_pretrained"]["max_num_seqs"] == 98
    args, training_args = parse_args(b, [*model, "--use_vllm", "false"])
    assert (args.vllm_max_num_seqs, training_args.use_vllm) == (None, False)
    monkeypatch.setattr(recipe_args, "USE_UNSLOTH", False)
    monkeypatch.setattr(recipe_args, "ENGINE", "trl")
    monkeypatch.setattr(recipe_args, "TRL_VLLM", True)
    args, training_args = parse_args(b, [*model, "--use_vllm", "true", "--load_in_4bit", "false"])
    assert (args.vllm_max_num_seqs, training_args.use_vllm) == (None, True)


def test_use_peft_false_is_refused_on_unsloth(unsloth):
    assert refusal(gsm8k_0_5b.DEFAULTS, ["--use_peft", "false"]) == \
        "error: --use_peft false needs GRPO_ENGINE=trl: the Unsloth path trains a LoRA"


@pytest.mark.parametrize("flag, value", [("--use_dora", "true"), ("--attn_implementation", "eager"),
                                         ("--bnb_4bit_quant_type", "fp4"), ("--lora_task_type", "SEQ_CLS")])
def test_a_model_setting_unsloth_cannot_honour_is_refused_in_one_line(unsloth, flag, value):
    line = refusal(gsm8k_0_5b.DEFAULTS, [flag, value])
    assert line.startswith(f"error: {flag} ") and line.endswith(": not on the Unsloth path (its loader has no such "
                                                                "setting); GRPO_ENGINE=trl takes it")


@pytest.mark.skipif(start.USE_UNSLOTH, reason="checks the path without Unsloth")
def test_the_plain_trl_path_takes_those_settings():
    args, _ = parse_args(gsm8k_0_5b.DEFAULTS, ["--use_dora", "true", "--attn_implementation", "eager"])
    assert (args.use_dora, args.attn_implementation) == (True, "eager")


@pytest.mark.parametrize("recipe", ["temporal_clue_14b", "demo_smollm2"])
def test_the_clip_is_symmetric_unless_asked_whatever_the_engine(recipe, tmp_path):
    """No --epsilon_high: --epsilon on both sides, written out, where TRL leaves None. (With loss_type "dapo",
    Unsloth's GRPOConfig sets 0.28 by itself where it finds None.)"""
    defaults = load_recipe(recipe).DEFAULTS
    clip = lambda *argv: (lambda cfg: (cfg.epsilon, cfg.epsilon_high))(parse_args(defaults, list(argv))[1])
    assert clip() == (0.2, 0.2)
    assert clip("--epsilon", "0.3") == clip("--epsilon=0.3") == (0.3, 0.3)
    assert clip("--epsilon_high", "0.28") == (0.2, 0.28)
    config = tmp_path / "run.yaml"
    config.write_text("epsilon: 0.25\n")
    assert clip("--config", str(config)) == (0.25, 0.25)
    config.write_text("epsilon_high: 0.3\n")
    assert clip("--config", str(config), "--epsilon", "0.1") == (0.1, 0.3)
    assert "--epsilon: invalid float value: 'x'" in refusal(defaults, ["--epsilon", "x"])
