"""What the dashboard's workers report. Workers only post these; handlers change the screen."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from epdev.tui.source import views


class Reachability(Message):
    """The devserver answered (problem None) or could not be reached (problem says why)."""

    def __init__(self, problem: str | None) -> None:
        super().__init__()
        self.problem = problem


class Failed(Message):
    """A call the user asked for was refused; the message is one line for a notification."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


@dataclass
class EndpointsLoaded(Message):
    endpoints: list[views.EndpointView]
    deployments: dict[str, list[views.DeploymentView]] = field(default_factory=dict)
    batch: list[views.BatchEndpointView] | None = None
    """Batch endpoints; None when they could not be listed this time (the last ones stay)."""


@dataclass
class EndpointLoaded(Message):
    endpoint: views.EndpointView
    deployments: list[views.DeploymentView]
    metrics: views.EndpointMetrics | None
    key: str | None
    window: int
    """The window, in seconds, the metrics were asked for."""


@dataclass
class EndpointGone(Message):
    name: str
    text: str


@dataclass
class Done(Message):
    """A changing action finished; `text` is what to tell the user."""

    text: str


@dataclass
class JobsLoaded(Message):
    """The batch jobs, or why the devserver would not list them."""

    jobs: list[views.JobView]
    problem: str | None = None
