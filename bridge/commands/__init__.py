"""One module per CLI command; `bridge.cli` parses argv and dispatches here."""
