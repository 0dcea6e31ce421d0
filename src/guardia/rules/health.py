"""What the rules API reports about a rule's last evaluation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RuleHealth:
    health: str = "unknown"  # "ok" | "err" | "unknown"
    last_error: str = ""
    last_evaluation_ms: int = 0
    evaluation_seconds: float = 0.0

    def ok(self, t_ms: int, seconds: float) -> None:
        self.health, self.last_error = "ok", ""
        self.last_evaluation_ms, self.evaluation_seconds = t_ms, seconds

    def fail(self, t_ms: int, seconds: float, error: str) -> None:
        self.health, self.last_error = "err", error
        self.last_evaluation_ms, self.evaluation_seconds = t_ms, seconds
