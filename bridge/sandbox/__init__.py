"""An embedded, stateful Jira Service Management sandbox for the demo and the tests."""
