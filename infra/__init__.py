"""Everything that runs the infrastructure outside AWS: the local stack, ops tooling, packaging helpers."""
