"""static_configs: target groups written in prometheus.yml itself."""

from __future__ import annotations

from collections.abc import Sequence

from guardia.config.prometheus import StaticConfig
from guardia.discovery.targetgroup import TargetGroup


def static_groups(job: str, configs: Sequence[StaticConfig]) -> list[TargetGroup]:
    return [
        TargetGroup(
            source=f"static/{job}/{i}",
            targets=tuple({"__address__": t} for t in sc.targets),
            labels=dict(sc.labels),
        )
        for i, sc in enumerate(configs)
    ]
