"""Import of the files exported by the régies' billing software (format: docs/import-format.md)."""
