"""Start-up wiring: one cleanup context per resource, the process's GC policy."""
