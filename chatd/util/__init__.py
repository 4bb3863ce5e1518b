"""Small helpers with no chat knowledge: ids and time, JSON, futures, text, file modes."""
