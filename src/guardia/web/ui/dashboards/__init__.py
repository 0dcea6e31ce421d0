"""Dashboards in Grafana's JSON model (or the same model written in YAML).

``model`` reads a dashboard into typed panels, targets and variables; ``timerange`` and
``templating`` turn Grafana's ``from``/``to``, ``$var`` and ``$__interval`` into concrete
queries; ``variables`` resolves variable options; ``panel_data`` runs a panel's queries;
``store`` keeps built-in, provisioned and saved dashboards; ``grafana_api`` serves Grafana's
dashboard API paths.
"""

from guardia.web.ui.dashboards.model import (
    Dashboard,
    DashboardError,
    Panel,
    Target,
    Variable,
    parse_dashboard,
)

__all__ = ["Dashboard", "DashboardError", "Panel", "Target", "Variable", "parse_dashboard"]
