"""The rule files: their shape (models, schema, reference) and reading them."""
