"""Value types every stage shares: labels, matchers, durations, timestamps, samples."""

from guardia.model.durations import DurationError, format_duration, parse_duration
from guardia.model.labels import METRIC_NAME, Labels
from guardia.model.matchers import Matcher, MatcherError, MatchType
from guardia.model.samples import STALE_NAN, is_stale_nan
from guardia.model.timestamps import TimestampError, format_rfc3339, parse_timestamp

__all__ = [
    "METRIC_NAME",
    "STALE_NAN",
    "DurationError",
    "Labels",
    "MatchType",
    "Matcher",
    "MatcherError",
    "TimestampError",
    "format_duration",
    "format_rfc3339",
    "is_stale_nan",
    "parse_duration",
    "parse_timestamp",
]
