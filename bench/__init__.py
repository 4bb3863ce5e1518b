"""chatd benchmark harness: load generator, python-socketio peer, scenarios, results.

Run `python -m bench run --help`. See bench/README.md.
"""
