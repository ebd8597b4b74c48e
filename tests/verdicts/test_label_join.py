"""The label join rule: same id; the latest prediction at or before the label's event time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_monitor.verdicts.label_join import JoinReport, coverage, match_labels


def _t(day: int) -> pd.Timestamp:
    return pd.Timestamp(f"2026-01-{day:02d}", tz="UTC")


def _labels(rows: list[tuple[str, object, pd.Timestamp | None, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "event_time": pd.to_datetime([r[2] for r in rows], utc=True),
            "added_at": [_t(20 + r[3]) for r in rows],
        }
    )


PREDICTIONS = pd.DataFrame(
    {"cid": ["a", "a", "b", "c", "a"], "mm_time": [_t(1), _t(5), _t(2), _t(3), _t(9)]}
)


def test_each_rule_of_the_join() -> None:
    labels = _labels(
        [
            (
                "a",
                1,
                _t(6),
                0,
            ),  # a predicted on 1, 5, 9: the latest at or before the 6th is the 5th
            ("b", 0, None, 0),  # no event time: the latest prediction of b
            ("b", 1, None, 1),  # b again: a duplicate, the one added last wins
            ("zz", 1, None, 1),  # never predicted: unknown
            ("c", 0, _t(1), 1),  # c predicted on the 3rd only, after its event: unknown
            ("a", 0, None, 2),  # no event time: the latest a (the 9th)
        ]
    )
    joined, report = match_labels(PREDICTIONS, labels, id_column="cid", time_column="mm_time")
    assert joined.tolist()[1:3] == [1, 1] and joined.tolist()[4] == 0
    assert np.isnan(joined.iloc[0]) and np.isnan(joined.iloc[3])
    assert report == JoinReport(labels=6, joined=3, unknown_ids=2, duplicates=1)
    assert "3 joined" in report.text()


def test_a_label_at_the_exact_prediction_time_joins_it() -> None:
    labels = _labels([("a", 7, _t(5), 0)])
    joined, report = match_labels(PREDICTIONS, labels, id_column="cid", time_column="mm_time")
    assert joined.iloc[1] == 7 and report.joined == 1


def test_two_events_on_one_prediction_keep_the_later_event() -> None:
    labels = _labels([("b", "late", _t(8), 0), ("b", "early", _t(4), 1)])
    joined, report = match_labels(PREDICTIONS, labels, id_column="cid", time_column="mm_time")
    assert joined.iloc[2] == "late"
    assert (report.joined, report.duplicates) == (1, 0)


def test_ids_compare_as_text_and_coverage_has_its_denominator() -> None:
    frame = pd.DataFrame({"cid": [10, 11], "mm_time": [_t(1), _t(1)]})
    joined, _ = match_labels(
        frame, _labels([("10", 1, None, 0)]), id_column="cid", time_column="mm_time"
    )
    assert joined.iloc[0] == 1 and np.isnan(joined.iloc[1])
    assert coverage(1, 2) == 0.5 and coverage(0, 0) == 0.0
