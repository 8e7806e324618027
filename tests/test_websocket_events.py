"""The event log a WebSocket check keeps: bounded, and judged only on telling events with the same verdict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loopctl.outside_text import EVENT_SAMPLE, NAME_LIMIT
from loopctl.probe import classify
from loopctl.probe.websocket import _Events
from loopctl.records.compare import events_in_order

names = st.sampled_from(["a", "b", "c", "d"])


@given(expected=st.lists(names, min_size=1, max_size=4), stream=st.lists(names, max_size=40))
def test_judging_only_the_telling_events_settles_when_and_as_judging_them_all_does(
    expected: list[str], stream: list[str]
) -> None:
    log = _Events(expected)
    full: list[str] = []
    for position, name in enumerate(stream):
        full.append(name)
        telling = log.add(name)
        everything = classify.events(expected, full)
        judged = classify.events(expected, log.telling) if telling else None
        if everything is not None:
            assert judged is not None, (position, full, log.telling)
            assert (judged.category, judged.depth) == (everything.category, everything.depth)
            break
    assert log.missing() == classify.missing_events(expected, full)
    assert log.count == len(full)


@given(
    expected=st.lists(names, min_size=1, max_size=4),
    stream=st.lists(st.sampled_from(["a", "b", "c", "d", "tick"]), min_size=60, max_size=300),
)
def test_the_kept_sample_counts_expected_events_in_order_as_the_whole_stream_does(
    expected: list[str], stream: list[str]
) -> None:
    log = _Events(expected)
    for name in stream:
        log.add(name)
    sample = log.sample
    assert events_in_order(expected, sample) == events_in_order(expected, stream)
    assert classify.missing_events(expected, sample) == classify.missing_events(expected, stream)
    assert len(sample) <= 2 * EVENT_SAMPLE + 2 * len(expected)
    assert sample[:EVENT_SAMPLE] == tuple(stream[:EVENT_SAMPLE]) and sample[-EVENT_SAMPLE:] == tuple(
        stream[-EVENT_SAMPLE:]
    )


def test_a_long_stream_keeps_its_first_and_last_names_and_the_count() -> None:
    log = _Events(["done"])
    for number in range(10_000):
        log.add(f"tick-{number}")
    log.add("x" * 1_000_000)
    assert log.count == 10_001 and len(log.sample) == 2 * EVENT_SAMPLE
    assert log.sample[0] == "tick-0" and log.sample[-2] == "tick-9999" and len(log.sample[-1]) == NAME_LIMIT
    assert log.telling == [] and log.judged == [log.sample[-1]]  # how far it got: the latest name
    log.add("done")
    assert log.sample[-1] == "done" and log.sample[EVENT_SAMPLE - 1] == f"tick-{EVENT_SAMPLE - 1}"
    assert log.telling == ["done"] and log.judged == ["done"]


def test_a_name_that_only_looks_expected_once_cleaned_is_not_counted_as_expected() -> None:
    log = _Events(["done"])
    assert log.add("do\x1bne") is False
    assert log.missing() == ["done"] and log.judged == []
