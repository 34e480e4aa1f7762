"""jsm-bridge: support-SLA enforcement for Jira Service Management."""

__version__ = "0.1.0"
