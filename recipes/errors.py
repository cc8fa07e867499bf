"""Bad input, told in one line: the error that recipes and data loaders raise for it, and a quick look at a model or
dataset name before anything loads it (transformers retries an unreachable hub for over a minute, then says less)."""

import os


class RecipeError(Exception):
    """A problem with the user's input (a missing file, an unknown model): reported as one line, no traceback."""


def check_source(name: str, repo_type: str = "model") -> None:
    """A local path is taken as it is; anything else must be a hub id that the hub knows (one request, no retries),
    or with HF_HUB_OFFLINE=1 a model in the local cache (datasets keep their own cache: `load_dataset` checks it)."""
    if os.path.exists(name):
        return
    import httpx
    from huggingface_hub import constants, repo_info, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:  # a path ("/data/model", "./model", "outputs/run/merged"), not a hub id
        raise RecipeError(f"no such folder: {name}") from None
    if constants.HF_HUB_OFFLINE:
        if repo_type == "model" and not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise RecipeError(f"no folder {name} here, and HF_HUB_OFFLINE=1 allows only models in the local cache: "
                              "pass a local folder, or download the model once where the hub is reachable")
        return
    try:
        repo_info(name, repo_type=repo_type, timeout=10)
    except RepositoryNotFoundError:
        raise RecipeError(f"no folder {name} here, and no {repo_type} {name!r} on the Hugging Face hub (a private "
                          "one needs `hf auth login`)") from None
    except HfHubHTTPError as e:  # an answer, but an error: a bad token, a server down
        raise RecipeError(f"the Hugging Face hub refused {name!r}: {first_line(e)}") from None
    except httpx.HTTPError as e:  # no answer
        raise RecipeError(f"cannot reach the Hugging Face hub for {name!r} ({first_line(e)}): without a network, set "
                          "HF_HUB_OFFLINE=1 to use the local cache, or pass a local folder") from None


def first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
