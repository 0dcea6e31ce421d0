"""Turn static_configs and file_sd_configs into target groups for the scrape manager."""

from guardia.discovery.file import FileDiscovery, FileSDError, parse_file
from guardia.discovery.static import static_groups
from guardia.discovery.targetgroup import TargetGroup

__all__ = ["FileDiscovery", "FileSDError", "TargetGroup", "parse_file", "static_groups"]
