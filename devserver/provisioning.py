"""A deployment's provisioning state, changed only by named transitions that write its store row.

The row is the one copy of the state: the runner and the views read it from here, and each
transition persists it, so what a restarted devserver restores is what was last shown.
"""

from __future__ import annotations

import enum
import sqlite3
from typing import Any

from epdev.devserver.store import DeploymentRow, Store
from epdev.specs import OnlineDeployment


class ProvisioningState(enum.StrEnum):
    CREATING = "Creating"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"


class DeploymentFailed(Exception):
    """A deployment's instances could not be brought up; the message says why."""


def stored_spec(spec: OnlineDeployment) -> dict[str, Any]:
    """A deployment spec as its row keeps it: what the user set, nothing filled in."""
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Provisioning:
    """Where a deployment is in its life: Creating -> Succeeded | Failed, Updating on each
    rollout, Deleting at the end. `store` is None for a runner that persists nothing (tests)."""

    def __init__(self, row: DeploymentRow, store: Store | None = None) -> None:
        self.row = row
        self._store = store

    @classmethod
    def new(
        cls,
        endpoint: str,
        spec: OnlineDeployment,
        runtime: str,
        store: Store | None = None,
        *,
        source: str | None = None,
        watch: bool = False,
        asked_runtime: str = "",
    ) -> Provisioning:
        """A deployment not stored yet, Creating (`created` stores it)."""
        row = DeploymentRow(
            endpoint=endpoint,
            name=spec.name,
            spec=stored_spec(spec),
            source=source,
            state=ProvisioningState.CREATING,
            runtime=runtime,
            watch=watch,
            asked_runtime=asked_runtime,
        )
        return cls(row, store)

    @property
    def state(self) -> ProvisioningState:
        return ProvisioningState(self.row.state)

    @property
    def error(self) -> str | None:
        return self.row.error

    @property
    def deleting(self) -> bool:
        return self.state == ProvisioningState.DELETING

    def created(self) -> None:
        """The row is new: stored whole, as Creating."""
        self.row.state, self.row.error = ProvisioningState.CREATING, None
        self.save()

    def restarting(self) -> None:
        """A restarted devserver brings the instances back: Creating again until they are up."""
        self._set(ProvisioningState.CREATING, None)

    def updating(self) -> None:
        """A rollout began; only the state is written, the rest of the row is written once the
        rollout succeeds (a failed one leaves the stored spec and runtime as they were)."""
        self._set(ProvisioningState.UPDATING, None)

    def succeeded(self, spec: OnlineDeployment | None = None) -> None:
        """Every instance is ready: the row, with the spec now serving, is stored whole."""
        if self.deleting:
            return
        if spec is not None:
            self.row.spec = stored_spec(spec)
        self.row.state, self.row.error = ProvisioningState.SUCCEEDED, None
        self.save()

    def failed(self, reason: str) -> None:
        """The instances could not be brought up; `reason` is shown as the deployment's error."""
        if not self.deleting:
            self._set(ProvisioningState.FAILED, reason)

    def delete(self, db: sqlite3.Connection | None = None) -> None:
        """The deployment goes: its row leaves the store now (in the transaction `db`, when
        given), before its instances stop, so a devserver killed meanwhile restores nothing of
        it; a provisioning still running can no longer mark it Failed or Succeeded."""
        if self._store is not None:
            self._store.delete_deployment(self.row.endpoint, self.row.name, db)
        self.row.state = ProvisioningState.DELETING

    def save(self) -> None:
        """Write the whole row (its spec, runtime, watch flag and source as they are now)."""
        if self._store is not None:
            self._store.put_deployment(self.row)

    def _set(self, state: ProvisioningState, error: str | None) -> None:
        # Stored first: a write that fails (a full disk) leaves the row as the store has it.
        if self._store is not None:
            self._store.set_deployment_state(self.row.endpoint, self.row.name, state, error)
        self.row.state, self.row.error = state, error
