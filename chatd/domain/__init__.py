"""Chat rules and read models: rooms, DMs, mentions, read state, calls."""
