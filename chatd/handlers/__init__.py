"""Built-in frame handlers, registered through the `chatd.handlers` entry points."""
