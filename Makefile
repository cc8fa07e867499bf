# The GRPO recipe book. `make help` lists the targets; pass recipe flags with ARGS="--max_steps 50 ...".
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=
# Extra index for the CPU build of torch on a machine without a GPU, e.g.
# make test TORCH_INDEX=https://download.pytorch.org/whl/cpu  (otherwise pip may fetch the CUDA build: gigabytes)
TORCH_INDEX ?=

HAS_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo yes)
FLAVOUR := $(if $(HAS_GPU),gpu,cpu)
STAMP := $(VENV)/.installed-$(FLAVOUR)
TORCH_PIN := $(shell grep '^torch==' requirements.txt | cut -d' ' -f1)

.PHONY: help demo plot report gsm8k-0.5b gsm8k-1.5b kk-7b clue-14b countdown-3b train eval bench test venv need-gpu

help:
	@echo "make demo         GRPO on SmolLM2-135M from PyPI: no GPU, no hub; before/after table and curves"
	@echo "make plot         draw a run's curves into PNG files: RUN=outputs/gsm8k-0.5b"
	@echo "make report       one HTML page of a run (curves, before/after, completions): RUN=outputs/gsm8k-0.5b"
	@echo "                  [ARGS=\"--published 8.87 65.28\"]: the source's accuracy before and after, beside the run's"
	@echo "make gsm8k-0.5b   train system A (Qwen2.5-0.5B, GSM8K) on a CUDA GPU; ARGS=\"--max_steps 50\" to change it"
	@echo "make gsm8k-1.5b   train system B (Qwen2.5-1.5B, GSM8K) on a CUDA GPU"
	@echo "make kk-7b        train system C (Qwen2.5-7B, Knights and Knaves, three stages); ARGS=\"--stage 2\" for one"
	@echo "make clue-14b     train system D (Qwen2.5-14B, Temporal Clue puzzles generated with CP-SAT)"
	@echo "make countdown-3b train TinyZero's Countdown (Qwen2.5-3B base model); ARGS=\"--chat true\" for the Instruct one"
	@echo "make train        train any recipe file: RECIPE=gsm8k_0_5b (recipes/<name>.py) [ARGS=...]"
	@echo "                  these on several GPUs: GPUS=4 [DIST=fsdp2|zero3|ddp] [VLLM_GPUS=1]; README: More GPUs"
	@echo "make eval         evaluate any recipe: RECIPE=gsm8k_0_5b [ADAPTER=outputs/gsm8k-0.5b/adapter] [ARGS=...]"
	@echo "make bench        GPU benchmark: each recipe through Unsloth and plain TRL, as on a 24 GB GPU -> BENCHMARKS.md"
	@echo "make test         build the environment (no GPU needed) and run the test suite"

venv: $(STAMP)

# Both: xformers removed after installing. Unsloth requires it, but its build for torch 2.10 cannot load beside 2.11:
# Unsloth falls back to PyTorch's attention either way, and without it says nothing at start (its own advice).
# GPU: the pinned set as is. CPU: the same pins less vllm (torch from TORCH_INDEX if given), and without torchvision
# (PyPI's torchvision is built for CUDA and breaks transformers' imports next to a CPU-only torch).
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
ifeq ($(FLAVOUR),gpu)
	$(PY) -m pip install -r requirements.txt
else
	$(PY) -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) $(TORCH_PIN)
	grep -v 'gpu-only' requirements.txt > $(VENV)/requirements-cpu.txt
	$(PY) -m pip install -r $(VENV)/requirements-cpu.txt
	$(PY) -m pip uninstall -y -q torchvision
endif
	$(PY) -m pip uninstall -y -q xformers
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(PY) -m recipes.demo_smollm2 $(ARGS)

RUN ?=
plot: $(STAMP)
	@test -n "$(RUN)" || { echo "error: say which run folder: make plot RUN=outputs/demo-smollm2"; exit 1; }
	$(PY) -m recipes.tools.plot $(RUN)

report: $(STAMP)
	@test -n "$(RUN)" || { echo "error: say which run folder: make report RUN=outputs/demo-smollm2"; exit 1; }
	$(PY) -m recipes.tools.report $(RUN) $(ARGS)

# GPUS=N: the recipe under accelerate on N GPUs (plain TRL + PEFT, bf16), with
# recipes/tools/accelerate/$(DIST).yaml; VLLM_GPUS=k of the N run a vLLM server that generates the completions.
# Without GPUS: one GPU, Unsloth.
GPUS ?=
DIST ?= fsdp2
VLLM_GPUS ?= 0
LAUNCH = $(PY) -m recipes.tools.launch --gpus $(GPUS) --dist $(DIST) --vllm_gpus $(VLLM_GPUS)
RUN_RECIPE = $(if $(GPUS),$(LAUNCH) $(1),$(PY) -m recipes.$(1))

need-gpu:
	@test -n "$(HAS_GPU)" || { echo "error: this needs an NVIDIA GPU with CUDA (nvidia-smi finds none); without one you can run 'make test'"; exit 1; }

gsm8k-0.5b: need-gpu $(STAMP)
	$(call RUN_RECIPE,gsm8k_0_5b) $(ARGS)

gsm8k-1.5b: need-gpu $(STAMP)
	$(call RUN_RECIPE,gsm8k_1_5b) $(ARGS)

kk-7b: need-gpu $(STAMP)
	$(call RUN_RECIPE,knights_knaves_7b) $(ARGS)

clue-14b: need-gpu $(STAMP)
	$(call RUN_RECIPE,temporal_clue_14b) $(ARGS)

countdown-3b: need-gpu $(STAMP)
	$(call RUN_RECIPE,countdown_3b) $(ARGS)

RECIPE ?= gsm8k_0_5b
train: need-gpu $(STAMP)
	$(call RUN_RECIPE,$(RECIPE)) $(ARGS)

ADAPTER ?=
eval: need-gpu $(STAMP)
	$(PY) -m recipes.tools.evaluate --recipe $(RECIPE) $(if $(ADAPTER),--adapter $(ADAPTER)) $(ARGS)

bench: need-gpu $(STAMP)
	$(PY) -m recipes.tools.bench $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q tests
