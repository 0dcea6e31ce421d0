"""Load, validate and resolve configuration: prometheus.yml, rule files, alertmanager.yml, guardia.yml.

Every problem is a ``ConfigIssue`` with file, line, column and field path; loaders collect
them all and raise one ``ConfigError``.  Config objects are immutable, so a reload builds a
new one and swaps it in only if it validated.
"""

from guardia.config.errors import ConfigError, ConfigIssue, format_path
from guardia.config.secrets import Secret
from guardia.config.yamlsource import YamlSource, load_yaml, parse_yaml

__all__ = ["ConfigError", "ConfigIssue", "Secret", "YamlSource", "format_path", "load_yaml", "parse_yaml"]
