"""What every receiver integration's config shares: the base model and the checker's services.

An integration module (``config/receivers/NAME.py``) holds its config model and a
``resolve`` function that runs Alertmanager's checks for one ``NAME_configs`` entry and fills
its settings from ``global``; ``ReceiverChecks`` is what the alertmanager.yml checker lends it
(positioned errors, secrets resolved and checked for placeholders, the global section).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

from guardia.config.errors import Path as FieldPath
from guardia.config.httpclient import HTTPClientConfig
from guardia.config.secrets import Secret
from guardia.config.validate import StrictModel

if TYPE_CHECKING:
    from guardia.config.alertmanager import GlobalConfig

# The HTTP client block is the one Prometheus uses (guardia.config.httpclient): Alertmanager
# embeds the same prometheus/common struct under ``http_config``.
HTTPConfig = HTTPClientConfig


class NotifierConfig(StrictModel):
    send_resolved: bool | None = None
    http_config: HTTPConfig | None = None

    default_send_resolved: ClassVar[bool] = True

    @property
    def resolved(self) -> bool:
        """``send_resolved`` with Alertmanager's per-integration default."""
        return self.default_send_resolved if self.send_resolved is None else self.send_resolved


class ReceiverChecks(Protocol):
    """The alertmanager.yml checker, as an integration's ``resolve`` sees it."""

    @property
    def global_(self) -> GlobalConfig: ...

    def err(self, path: FieldPath, msg: str) -> None:
        """Report an error at ``path`` of the file."""

    def secret(self, path: FieldPath, value: Secret | None, file: str | None, what: str,
               receiver: str) -> Secret | None:
        """The secret (inline with ``${VAR}`` expanded, or read from ``file``), checked for
        placeholders; problems are reported for ``receiver``.  None when it is unknown."""

    def http_config(self, c: NotifierConfig) -> HTTPConfig | None:
        """The integration's ``http_config``, or global's when it sets none."""
