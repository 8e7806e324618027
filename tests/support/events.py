"""The event sink of a phase test: a Context's `on_event` that keeps every event, and the messages it logged."""

from __future__ import annotations

from loopctl.phases.base import Context, Event


class Recorder:
    """Keeps every event the phase emitted."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)


def logged(ctx: Context) -> list[str]:
    assert isinstance(ctx.on_event, Recorder)
    return [event.message for event in ctx.on_event.events]
