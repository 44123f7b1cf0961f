"""The summary's account of a model's deployments (summary.json `calls.deployments`: model
-> deployment -> its share), apart from migrate/evals/record.py, which owns the file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DeploymentCalls(BaseModel):
    """One deployment's share of the calls a run made to its model."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # written by migrate itself

    calls: int = 0  # calls whose result it gave (a retry on another deployment: that one's)
    errors: int = 0  # of those, failed
    rate_limited: int = 0  # requests it refused with 429, in any call
