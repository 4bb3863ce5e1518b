"""What an operator sees of a running node: Prometheus metrics and log context."""
