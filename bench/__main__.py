from bench.cli import main

# Guarded: generator workers are spawned processes that re-import this module.
if __name__ == "__main__":
    raise SystemExit(main())
