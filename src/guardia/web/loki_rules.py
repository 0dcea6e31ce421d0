"""Loki's ruler API: LogQL rule groups listed, read, set and deleted in YAML by namespace, and
the loaded rules and their alerts in Prometheus's JSON (``/prometheus/api/v1/rules|alerts``).

A namespace stands for a rule file, as in Loki.  Groups set through the API live in
``<namespace>.yml`` files (the name percent-encoded) in the ruler directory beside the log
store; the files named by ``logs.rule_files`` are listed too, under their path as namespace,
and are read-only here (edit the file and reload).  Every change is checked as a whole rule
file, LogQL and all, before it is written; the log rule manager then reloads, so a set group
is evaluated at once, with the same notifier, routes and silences as any other rule.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from guardia.config.errors import ConfigError
from guardia.config.rulefile import parse_rule_file
from guardia.config.yamlsource import parse_yaml
from guardia.logs.rules import rule_expr_error
from guardia.rules import RulesFilterError
from guardia.rules.manager import RuleManager, expand_rule_files
from guardia.web.envelope import json_response

log = logging.getLogger("guardia.web.loki")
YAML = "application/yaml"


def _yaml(doc: Any, status: int = 200) -> Response:
    return Response(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), status, media_type=YAML)


def _accepted() -> Response:
    return json_response({"status": "success", "data": None, "errorType": "", "error": ""}, status=202)


class LokiRulerApi:
    def __init__(
        self,
        rules: RuleManager,
        directory: Path,
        config_files: Callable[[], list[str]],
        reload: Callable[[], None],
    ) -> None:
        self.rules = rules
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_files = config_files
        self.reload = reload

    @property
    def pattern(self) -> str:
        """The glob the log rule manager loads the API's files with."""
        return str(self.dir / "*.yml")

    def _file(self, namespace: str) -> Path:
        return self.dir / (urllib.parse.quote(namespace, safe="") + ".yml")

    def _namespaces(self) -> dict[str, tuple[Path, bool]]:
        """namespace -> (file, writable)."""
        out: dict[str, tuple[Path, bool]] = {}
        for f in expand_rule_files(self.config_files()):
            out[f] = (Path(f), False)
        for p in sorted(self.dir.glob("*.yml")):
            out[urllib.parse.unquote(p.stem)] = (p, True)
        return out

    @staticmethod
    def _groups(path: Path) -> list[dict[str, Any]]:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            log.warning("event=ruler_file_unreadable file=%s error=%s", path, e)
            return []
        groups = data.get("groups") if isinstance(data, dict) else None
        return [g for g in groups or [] if isinstance(g, dict)]

    # ------------------------------------------------------------ Loki's YAML endpoints

    async def list_rules(self, request: Request) -> Response:
        out = {ns: self._groups(p) for ns, (p, _) in self._namespaces().items()}
        out = {ns: gs for ns, gs in out.items() if gs}
        if not out:
            return PlainTextResponse("no rule groups found\n", 404)
        return _yaml(out)

    async def namespace(self, request: Request) -> Response:
        ns = request.path_params["namespace"]
        found = self._namespaces().get(ns)
        groups = self._groups(found[0]) if found else []
        if not groups:
            return PlainTextResponse(f"no rule groups found for namespace {ns!r}\n", 404)
        return _yaml({ns: groups})

    async def group(self, request: Request) -> Response:
        ns, name = request.path_params["namespace"], request.path_params["group"]
        found = self._namespaces().get(ns)
        for g in self._groups(found[0]) if found else []:
            if g.get("name") == name:
                return _yaml(g)
        return PlainTextResponse(f"group {name!r} not found in namespace {ns!r}\n", 404)

    def _writable(self, ns: str) -> Path | PlainTextResponse:
        found = self._namespaces().get(ns)
        if found is not None and not found[1]:
            return PlainTextResponse(
                f"namespace {ns!r} is the rule file {found[0]} named by logs.rule_files in guardia.yml; "
                "edit that file and reload, or use another namespace\n", 400)
        return self._file(ns)

    def _write(self, path: Path, ns: str, groups: list[dict[str, Any]]) -> PlainTextResponse | None:
        """Check ``groups`` as a whole rule file, then write it (or remove it when empty)."""
        if not groups:
            path.unlink(missing_ok=True)
            self.reload()
            return None
        text = yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True)
        try:
            rf, issues = parse_rule_file(parse_yaml(text, f"namespace {ns}"), rule_expr_error)
        except ConfigError as e:
            return PlainTextResponse(f"{e}\n", 400)
        if rf is None:
            errors = [i for i in issues if i.severity == "error"]
            return PlainTextResponse("\n".join(str(i) for i in errors) + "\n", 400)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        try:
            self.reload()
        except ConfigError as e:  # another file broke meanwhile: say so, the group is stored
            return PlainTextResponse(f"stored, but the rules did not reload: {e}\n", 400)
        return None

    async def set_group(self, request: Request) -> Response:
        ns = request.path_params["namespace"]
        path = self._writable(ns)
        if isinstance(path, PlainTextResponse):
            return path
        try:
            group = yaml.safe_load(await request.body())
        except yaml.YAMLError as e:
            return PlainTextResponse(f"the body is not YAML: {e}\n", 400)
        if not isinstance(group, dict) or not isinstance(group.get("name"), str) or not group["name"]:
            return PlainTextResponse(
                "the body must be one rule group in YAML: name: <group>, interval: <optional>, "
                "rules: [{alert|record: ..., expr: <LogQL metric query>, ...}]\n", 400)
        groups = [g for g in self._groups(path) if g.get("name") != group["name"]] if path.exists() else []
        groups.append(group)
        bad = self._write(path, ns, groups)
        return bad if bad is not None else _accepted()

    async def delete_group(self, request: Request) -> Response:
        ns, name = request.path_params["namespace"], request.path_params["group"]
        path = self._writable(ns)
        if isinstance(path, PlainTextResponse):
            return path
        groups = self._groups(path) if path.exists() else []
        kept = [g for g in groups if g.get("name") != name]
        if len(kept) == len(groups):
            return PlainTextResponse(f"group {name!r} not found in namespace {ns!r}\n", 404)
        bad = self._write(path, ns, kept)
        return bad if bad is not None else _accepted()

    async def delete_namespace(self, request: Request) -> Response:
        ns = request.path_params["namespace"]
        path = self._writable(ns)
        if isinstance(path, PlainTextResponse):
            return path
        if not path.exists():
            return PlainTextResponse(f"namespace {ns!r} not found\n", 404)
        self._write(path, ns, [])
        return _accepted()

    # ------------------------------------------------------------ Prometheus-shaped views

    async def prom_rules(self, request: Request) -> Response:
        p = request.query_params
        try:
            data = self.rules.rules(
                type_=(p.get("type") or "").lower() or None,
                rule_names=p.getlist("rule_name[]") or p.getlist("rule_name"),
                rule_groups=p.getlist("rule_group[]") or p.getlist("rule_group"),
                files=p.getlist("file[]") or p.getlist("file"),
                exclude_alerts=(p.get("exclude_alerts") or "").lower() == "true",
            )
        except RulesFilterError as e:
            return json_response({"status": "error", "errorType": "bad_data", "error": str(e)}, status=400)
        return json_response({"status": "success", "data": data})

    async def prom_alerts(self, request: Request) -> Response:
        return json_response({"status": "success", "data": self.rules.alerts()})

    def routes(self) -> list[BaseRoute]:
        out: list[BaseRoute] = []
        for base in ("/loki/api/v1/rules", "/api/prom/rules"):
            ns, grp = f"{base}/{{namespace}}", f"{base}/{{namespace}}/{{group}}"
            out += [
                Route(base, self.list_rules, methods=["GET"], name=base),
                Route(ns, self.namespace, methods=["GET"], name=f"{ns} (get)"),
                Route(ns, self.set_group, methods=["POST"], name=f"{ns} (set)"),
                Route(ns, self.delete_namespace, methods=["DELETE"], name=f"{ns} (delete)"),
                Route(grp, self.group, methods=["GET"], name=f"{grp} (get)"),
                Route(grp, self.delete_group, methods=["DELETE"], name=f"{grp} (delete)"),
            ]
        out += [
            Route("/prometheus/api/v1/rules", self.prom_rules, methods=["GET"],
                  name="/prometheus/api/v1/rules"),
            Route("/prometheus/api/v1/alerts", self.prom_alerts, methods=["GET"],
                  name="/prometheus/api/v1/alerts"),
        ]
        return out
