"""The rule evaluator's pure core against hand-worked readings: a threshold held for its
duration, hysteresis (one alarm for a signal hovering at its level), a clear past the clear level,
a rate's drop within its window, and a retried upload repeating nothing."""

from alerts.conditions import Condition, State, Step, evaluate

HOT = Condition("threshold", "above", 85.0, clear_threshold=80.0, duration_seconds=30)


def test_a_threshold_held_for_its_duration_opens_and_the_clear_level_clears() -> None:
    state = State()
    points = [
        (0, 86.0),  # past: the wait starts
        (10, 87.0),
        (20, 84.0),  # in the band below the level: the wait starts again
        (30, 86.0),
        (50, 90.0),
        (60, 88.0),  # held 30 s since 30: open
        (70, 83.0),  # in the band: stays open
        (80, 86.0),
        (90, 79.0),  # past the clear level: cleared
    ]
    assert evaluate(HOT, state, points) == [Step("raise", 60, 88.0), Step("clear", 90, 79.0)]
    assert (state.active, state.since, state.seen) == (False, None, 90)
    # the same readings again (a retried upload): nothing
    assert evaluate(HOT, state, points) == []
    # the next batch: held again for 30 s
    assert evaluate(HOT, state, [(100, 86.0), (120, 95.0), (130, 86.5)]) == [
        Step("raise", 130, 86.5)
    ]
    # still past the level in the batch after: its last reading updates the alarm
    assert evaluate(HOT, state, [(140, 91.0), (150, 92.0), (160, 84.0)]) == [
        Step("update", 150, 92.0)
    ]


def test_a_signal_hovering_at_its_level_makes_one_alarm() -> None:
    quick = Condition("threshold", "above", 85.0, clear_threshold=80.0)
    state = State()
    hovering = [(t, 85.1 if t % 2 else 84.9) for t in range(1, 200)]
    assert evaluate(quick, state, hovering) == [Step("raise", 1, 85.1), Step("update", 199, 85.1)]
    # without a clear level the threshold itself clears it: every dip would
    plain = Condition("threshold", "above", 85.0)
    steps = evaluate(plain, State(), hovering[:6])
    assert [s.action for s in steps] == ["raise", "clear", "raise", "clear", "raise", "clear"]


def test_below_a_level() -> None:
    low = Condition("threshold", "below", 30.0, clear_threshold=35.0)
    state = State()
    assert evaluate(low, state, [(0, 31.0), (5, 29.5), (9, 33.0), (12, 36.0)]) == [
        Step("raise", 5, 29.5),
        Step("clear", 12, 36.0),
    ]


def test_a_drop_within_the_window() -> None:
    drop = Condition("rate", "below", 10.0, window_seconds=600)
    state = State()
    points = [(0, 80.0), (300, 75.0), (500, 69.0), (700, 68.5), (1000, 68.0), (1400, 67.9)]
    # at 500 the window (from -100) holds 80, 75, 69: a drop of 11; at 700 the 80 has left it
    # (from 100: 75, 69, 68.5), a drop of 6.5, back within the level
    assert evaluate(drop, state, points) == [Step("raise", 500, 11.0), Step("clear", 700, 6.5)]
    assert state.window == [(1000, 68.0), (1400, 67.9)]
    rise = Condition("rate", "above", 5.0, window_seconds=60)
    assert evaluate(rise, State(), [(0, 20.0), (30, 26.0)]) == [
        Step("raise", 30, 6.0),
    ]


def test_a_zscore_past_its_level_against_the_previous_readings() -> None:
    spike = Condition("zscore", "above", 3.0, clear_threshold=1.0, window_count=4)
    state = State()
    # 10, 12, 10, 12: mean 11, sample deviation 1.1547; 16 is +4.33 deviations, 5 is -5.20
    points = [(0, 10.0), (1, 12.0), (2, 10.0), (3, 12.0), (4, 16.0)]
    [raised] = evaluate(spike, state, points)
    assert (raised.action, raised.at) == ("raise", 4)
    assert round(raised.value, 2) == 4.33
    # window now 12, 10, 12, 16 (mean 12.5, deviation 2.52): 11 is -0.60, back within 1: clear
    [cleared] = evaluate(spike, state, [(5, 11.0)])
    assert (cleared.action, cleared.at, round(cleared.value, 2)) == ("clear", 5, -0.6)
    # a drop counts as much as a rise (|z|); too few earlier readings say nothing
    low = State()
    assert evaluate(spike, low, [(0, 10.0), (1, 12.0), (2, 10.0)]) == []
    assert [s.action for s in evaluate(spike, low, [(3, 12.0), (4, 5.0)])] == ["raise"]
    # readings that do not vary give no z-score at all
    flat = State()
    assert evaluate(spike, flat, [(t, 7.0) for t in range(6)] + [(6, 9.0)]) == []
