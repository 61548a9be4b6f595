"""aqm for GitHub: aqm-compatible multi-agent YAML pipelines that run on GitHub events."""

__version__ = "0.1.0"
