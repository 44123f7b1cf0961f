"""Before any call: can every model a run uses be called as configured?

For each model (the current one, the candidates, the judge): litellm knows its provider,
the key variable it needs is set, and litellm accepts the parameters the run will send it
(a reasoning model refuses `temperature: 0` before any network call). Nothing here calls a
model; `migrate run` refuses to start, and `migrate check --deep` reports, on any problem.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from migrate.errors import InputError
from migrate.evals.grading import EMBEDDING, GRADER_PARAMS
from migrate.evals.inputs import (
    JUDGED_CHECKS,
    grader_targets,
    judge_grades,
    suite_inputs,
    target_of,
)
from migrate.evals.judge import judge_params
from migrate.evals.record import Manifest
from migrate.llm import Target, litellm_module
from migrate.registry.load import Registry
from migrate.secrets import redact


@dataclass(frozen=True)
class ModelUse:
    """One model as a run will call it."""

    target: Target
    params: dict[str, Any]
    role: str  # current | candidate | judge


def preflight(uses: list[ModelUse], environ: Mapping[str, str]) -> list[str]:
    """What stops each model from being called, each with what to change; [] when none."""
    problems = []
    seen = set()
    for use in uses:
        key = (use.target.model, tuple(sorted(use.params.items(), key=str)))
        if key in seen:
            continue
        seen.add(key)
        problem = _provider_problem(use) or _key_problem(use, environ) or _params_problem(use)
        if problem:
            problems.append(f"{use.target.model} ({use.role}): {problem}")
    return problems


def _provider_problem(use: ModelUse) -> str | None:
    litellm = litellm_module()
    try:
        litellm.get_llm_provider(use.target.model, api_base=use.target.api_base)
    except Exception:
        prefix = use.target.model.partition("/")[0]
        return (
            f"litellm knows no provider '{prefix}': name the model as litellm does, "
            "'<provider>/<model>' (openai/, anthropic/, bedrock/, gemini/, ollama/, ...), "
            "and use openai/ with api_base for any OpenAI-compatible server"
        )
    return None


def _key_problem(use: ModelUse, environ: Mapping[str, str]) -> str | None:
    target = use.target
    for deployment in target.deployments:  # each deployment's own key (or the model's)
        alone = Target(target.model, deployment.api_base, deployment.api_key_env)
        problem = _key_problem(ModelUse(alone, use.params, use.role), environ)
        if problem:
            return f"deployment '{deployment.name}': {problem}"
    if target.deployments:
        return None
    if target.api_key_env:
        if environ.get(target.api_key_env):
            return None
        return f"set the environment variable {target.api_key_env} (its api_key_env) to its key"
    checked = litellm_module().validate_environment(model=target.model, api_base=target.api_base)
    missing = [str(k) for k in checked.get("missing_keys") or []]
    if checked.get("keys_in_environment") or not missing:
        return None
    return (
        f"set the environment variable {' and '.join(missing)}, or name the variable that "
        f"holds the key with api_key_env under models"
    )


def _params_problem(use: ModelUse) -> str | None:
    """Map the params as the call would; litellm refuses what the model does not support."""
    litellm = litellm_module()
    from litellm.utils import get_optional_params

    target = use.target
    try:
        bare, provider, _, _ = litellm.get_llm_provider(target.model, api_base=target.api_base)
        named = set(inspect.signature(get_optional_params).parameters) - {"kwargs", "model"}
        known = {k: v for k, v in use.params.items() if k in named}
        get_optional_params(
            model=bare,
            custom_llm_provider=provider,
            drop_params=target.drop_params or None,
            **known,
        )
    except Exception as exc:
        said = _litellm_words(str(exc))
        return (
            f"litellm refuses its parameters {sorted(use.params)}: {said} Change them under "
            f"models.{target.model}.params (merged over the dependency's params), or set "
            f"models.{target.model}.drop_params: true to let litellm drop what the model "
            "does not support"
        )
    return None


def _litellm_words(message: str) -> str:
    """litellm's own sentence, without its class-name prefix and its advice to set globals."""
    text = re.sub(r"^(?:litellm\.)?\w+Error:\s*", "", redact(message).strip())
    text = re.split(r"\s*To drop unsupported", text)[0].strip()
    text = " ".join(text.split())[:300]
    return text if text.endswith(".") else text + "."


def model_uses(manifest: Manifest) -> list[ModelUse]:
    """Every model a run calls, with the params it will send each."""
    uses = [ModelUse(manifest.baseline, manifest.params_for(manifest.baseline.model), "current")]
    uses += [ModelUse(c, manifest.params_for(c.model), "candidate") for c in manifest.candidates]
    if manifest.judge:
        params = judge_params(manifest.model_params, manifest.judge.model)
        uses.append(ModelUse(manifest.judge, params, "judge"))
    for name, target in manifest.graders.items():  # an embedding model is sent no params
        params = {**GRADER_PARAMS, **manifest.model_params.get(target.model, {})}
        embeds = name.startswith(EMBEDDING)
        uses.append(ModelUse(target, {} if embeds else params, "grader"))
    return uses


def dependency_uses(registry: Registry, dependency_id: str) -> list[ModelUse]:
    """Every model a run of the dependency would call, as `migrate run` would call it."""
    dependency = registry.dependencies[dependency_id]
    uses = []
    for role, names in (("current", [dependency.model]), ("candidate", dependency.candidates)):
        for name in names:
            if name in registry.models:
                params = {**dependency.params, **registry.model(name).params}
                uses.append(ModelUse(target_of(registry, name), params, role))
    judged = dependency.eval is not None and any(
        c.type in JUDGED_CHECKS for c in dependency.eval.checks
    )
    judge = registry.settings.judge_model
    if judged and judge is not None and judge in registry.models:
        params = judge_params({judge: registry.model(judge).params}, judge)
        uses.append(ModelUse(target_of(registry, judge), params, "judge"))
    if dependency.eval is None:
        return uses
    try:
        checks_for = suite_inputs(registry, dependency, None).checks_for
    except InputError:
        return uses  # `migrate check` reports what is wrong with the suite itself
    if judge is not None and judge in registry.models and judge_grades(checks_for):
        own = registry.model(judge).params
        uses.append(ModelUse(target_of(registry, judge), {**GRADER_PARAMS, **own}, "grader"))
    for name, target in grader_targets(registry, checks_for).items():
        own = registry.model(target.model).params if target.model in registry.models else {}
        params = {} if name.startswith(EMBEDDING) else {**GRADER_PARAMS, **own}
        uses.append(ModelUse(target, params, "grader"))
    return uses
