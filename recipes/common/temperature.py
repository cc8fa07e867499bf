"""A sampling temperature that changes over a GRPO run: `TemperatureSchedule` anneals it in a straight line, step by
step, in generation and in the log-probabilities alike."""

from transformers import TrainerCallback

from recipes.errors import RecipeError


def set_temperature(trainer, value: float) -> None:
    """Every copy of the sampling temperature that GRPOTrainer reads (TRL 1.14.2; Unsloth compiles its GRPOTrainer
    from TRL's source and keeps these names): the log-probabilities (logits / temperature; Unsloth's loss reads
    args.temperature), Hugging Face generation's config and the kwargs it re-applies to the model, and vLLM's
    sampling parameters. Logged as `temperature` with the step's metrics."""
    trainer.temperature = trainer.args.temperature = value
    if getattr(trainer, "generation_config", None) is not None:
        trainer.generation_config.temperature = value
    if isinstance(getattr(trainer, "generation_kwargs", None), dict):
        trainer.generation_kwargs["temperature"] = value
    if getattr(trainer, "vllm_generation", None) is not None:
        trainer.vllm_generation.temperature = value
    trainer._metrics["train"]["temperature"].append(value)


class TemperatureSchedule(TrainerCallback):
    """At the start of each step, the sampling temperature: `start` at the first step and `end` at the last, in a
    straight line between (constant when they are equal). A resumed run picks up the schedule at its step."""

    def __init__(self, trainer, start: float, end: float):
        args = trainer.args
        if start != end and (args.steps_per_generation != args.gradient_accumulation_steps or args.num_iterations != 1):
            # otherwise completions sampled at one temperature would be scored at the next step's
            raise RecipeError("a temperature anneal needs new completions every step: leave steps_per_generation "
                              "and num_iterations at their defaults")
        self.trainer, self.start, self.end = trainer, start, end

    def temperature_at(self, step: int, max_steps: int) -> float:
        done = min(step / (max_steps - 1), 1.0) if max_steps > 1 else 0.0
        return self.start + (self.end - self.start) * done

    def on_step_begin(self, args, state, control, **kwargs):
        set_temperature(self.trainer, self.temperature_at(state.global_step, state.max_steps))

