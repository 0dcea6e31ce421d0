"""Prometheus's rule-manager self-metrics, registered on the registry the manager is given."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary


class RuleMetrics:
    """One set per registry; every group reports under its ``rule_group`` = ``file;name``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        g = ["rule_group"]
        self.eval_duration = Summary(
            "prometheus_rule_evaluation_duration_seconds",
            "The duration for a rule to execute.", registry=r)
        self.group_duration = Summary(
            "prometheus_rule_group_duration_seconds",
            "The duration of rule group evaluations.", registry=r)
        self.iterations_missed = Counter(
            "prometheus_rule_group_iterations_missed",
            "The total number of rule group evaluations missed due to slow rule group "
            "evaluation.", g, registry=r)
        self.iterations_scheduled = Counter(
            "prometheus_rule_group_iterations",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
            g, registry=r)
        self.evaluations = Counter(
            "prometheus_rule_evaluations", "The total number of rule evaluations.", g,
            registry=r)
        self.failures = Counter(
            "prometheus_rule_evaluation_failures", "The total number of rule evaluation failures.",
            g, registry=r)
        self.last_eval = Gauge(
            "prometheus_rule_group_last_evaluation_timestamp_seconds",
            "The timestamp of the last rule group evaluation in seconds.", g, registry=r)
        self.last_duration = Gauge(
            "prometheus_rule_group_last_duration_seconds",
            "The duration of the last rule group evaluation.", g, registry=r)
        self.last_rule_duration_sum = Gauge(
            "prometheus_rule_group_last_rule_duration_sum_seconds",
            "The sum of time in seconds it took to evaluate each rule in the group regardless "
            "of concurrency.", g, registry=r)
        self.interval = Gauge(
            "prometheus_rule_group_interval_seconds",
            "The interval of a rule group.", g, registry=r)
        self.rules = Gauge(
            "prometheus_rule_group_rules", "The number of rules.", g, registry=r)
        self.last_samples = Gauge(
            "prometheus_rule_group_last_evaluation_samples",
            "The number of samples returned during the last rule group evaluation.", g,
            registry=r)
        self.last_restore_duration = Gauge(
            "prometheus_rule_group_last_restore_duration_seconds",
            "The duration of the last alert rules alerts restoration using the `ALERTS_FOR_STATE`"
            " series.", g, registry=r)
        self.template_failures = Counter(
            "prometheus_template_text_expansion_failures",
            "The total number of template text expansion failures.", registry=r)

    def forget(self, key: str) -> None:
        """Drop a removed group's series."""
        for m in (self.iterations_missed, self.iterations_scheduled, self.evaluations,
                  self.failures, self.last_eval, self.last_duration, self.last_rule_duration_sum,
                  self.interval, self.rules, self.last_samples, self.last_restore_duration):
            with contextlib.suppress(KeyError):
                m.remove(key)
