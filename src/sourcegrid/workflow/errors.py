"""Errors of the grid-management workflow.

Every refusal of the workflow is a :class:`WorkflowError` (a
:class:`sourcegrid.errors.SourcegridError`), whose message says what was refused
and why, so the CLI and the web app show it as it is:

* :class:`AccessDenied` -- the person's role or scope does not allow the action;
* :class:`TransitionRefused` -- the alert's current state does not allow the action;
* :class:`ConcurrentUpdateError` -- someone else acted on the alert first (the
  expected event sequence number is no longer the current one).
"""

from __future__ import annotations

from sourcegrid.errors import SourcegridError

__all__ = ["WorkflowError", "AccessDenied", "TransitionRefused", "ConcurrentUpdateError"]


class WorkflowError(SourcegridError):
    """An action of the grid workflow that is refused; the message says why."""


class AccessDenied(WorkflowError):
    """The person's role or scope does not allow the action on the cell or unit."""


class TransitionRefused(WorkflowError):
    """The alert's current state does not allow the action."""


class ConcurrentUpdateError(WorkflowError):
    """The alert changed since the caller read it (optimistic concurrency)."""
