"""Cron schedules (``0 7 * * 1-5``, ``@daily``) for scheduled reports, in UTC.

The five fields of crontab(5): minute, hour, day of month, month, day of week (0 or 7 is
Sunday), each ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a list of those;
month and weekday names (``jan``, ``mon``) are accepted.  As in cron, when both day fields are
restricted a day matches either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
          "@annually": "0 0 1 1 *"}
NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
         "oct": 10, "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5,
         "sat": 6}
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))


class CronError(ValueError):
    pass


def _value(text: str, lo: int, hi: int, what: str) -> int:
    v = NAMES.get(text.lower()) if not text.isdigit() else int(text)
    if v is None or not lo <= v <= hi:
        raise CronError(f"{what} {text!r} is not between {lo} and {hi}")
    return v


def _field(text: str, lo: int, hi: int, what: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_s = part.partition("/")
        step = 1
        if step_s:
            if not step_s.isdigit() or int(step_s) == 0:
                raise CronError(f"{what}: step {step_s!r} must be a positive number")
            step = int(step_s)
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            x, _, y = rng.partition("-")
            a, b = _value(x, lo, hi, what), _value(y, lo, hi, what)
            if a > b:
                raise CronError(f"{what}: range {rng!r} runs backwards")
        else:
            a = _value(rng, lo, hi, what)
            b = hi if step_s else a
        out.update(range(a, b + 1, step))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def _day_ok(self, d: datetime) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, t_ms: int) -> int:
        """The first matching minute strictly after ``t_ms`` (ms since the epoch)."""
        t = datetime.fromtimestamp(t_ms / 1000, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for _ in range(366 * 5):
            if self._day_ok(t):
                for h in hours:
                    if h < t.hour:
                        continue
                    for m in minutes:
                        if h == t.hour and m < t.minute:
                            continue
                        return int(t.replace(hour=h, minute=m).timestamp() * 1000)
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
        raise CronError(f"{self.text!r} never matches")


def parse_cron(text: str) -> Cron:
    spec = MACROS.get(text.strip().lower(), text)
    parts = spec.split()
    if len(parts) != 5:
        raise CronError(f"{text!r}: a schedule is five fields (minute hour day-of-month month "
                        "day-of-week, e.g. \"0 7 * * *\" for 07:00 UTC daily) or "
                        "@hourly/@daily/@weekly/@monthly")
    sets = [_field(p, lo, hi, what) for p, (what, lo, hi) in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    cron = Cron(text, sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")
    cron.next_after(0)  # refuses "0 0 31 2 *" now rather than at the first run
    return cron
