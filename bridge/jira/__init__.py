"""All HTTP to Jira: a narrow port and one adapter. Knows nothing of rules."""
