"""Data access: the only code that knows the DynamoDB table's layout (docs/data-model.md)."""
