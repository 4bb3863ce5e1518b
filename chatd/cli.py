"""`chatd` and `python -m chatd`: read settings, start the server, stop gracefully.

`chatd migrate` (the release step) brings the configured store's schema up to
date and exits; the server does the same as it starts, so it is optional.
`chatd backup DIR`, `chatd restore DIR` and `chatd epoch [--new]` are in
chatd/wiring/backup.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from chatd import __version__
from chatd.app import create_app
from chatd.observability.logs import configure_logging
from chatd.settings import Settings, SettingsError, load_settings
from chatd.store.factory import migrate_store
from chatd.util.instance_lock import DataDirInUse, hold_data_dir
from chatd.wiring import backup as backup_commands
from chatd.wiring import gc_policy
from chatd.wiring.lifecycle import StartupFailed, error_line, serve

logger = logging.getLogger("chatd")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chatd", description="Run the chatd chat server.")
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="port to bind (default $PORT, else 8080)"
    )
    parser.add_argument("--version", action="version", version=f"chatd {__version__}")
    # Optional: no command serves, so `chatd --host ... --port ...` is unchanged.
    commands = parser.add_subparsers(dest="command", metavar="{migrate,backup,restore,epoch}")
    commands.add_parser(
        "migrate",
        help="migrate the store and create its missing indexes, then exit (release step)",
        description=(
            "Bring the store the environment configures (SQLite, or MONGODB_URI) to this"
            " chatd's schema version and create its missing indexes, then exit: 0 when"
            " the store is current, 2 with one line when it cannot be."
        ),
    )
    backup_commands.add_commands(commands)
    return parser.parse_args(argv)


def _use_uvloop() -> None:
    """uvloop's event loop when available: faster sockets and timers for every frame."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        if args.port is not None and not 0 <= args.port <= 65535:
            raise SettingsError("--port", f"port {args.port} out of range 0-65535")
        settings = load_settings(host=args.host, port=args.port)
    except SettingsError as exc:
        print(f"chatd: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return _migrate(settings)
    if args.command in backup_commands.COMMANDS:
        return backup_commands.run_command(args, settings)
    return _serve(settings)


def _migrate(settings: Settings) -> int:
    try:
        migration = asyncio.run(migrate_store(settings))
    except Exception as exc:
        # Whatever stopped it (an unreachable server, a store of a newer chatd,
        # a full disk), a release step reports it in one line and fails.
        print(f"chatd migrate: failed: {error_line(exc)}", file=sys.stderr)
        return 2
    print(f"chatd migrate: {migration.summary()}", flush=True)
    return 0


def _announce(settings: Settings, url: str) -> None:
    """The one line saying the node is up: on stdout, or a log record when logs are
    JSON, so that a collector reading them gets nothing but JSON lines."""
    if settings.log_format == "json":
        logger.info("chatd %s listening on %s", __version__, url)
    else:
        print(f"chatd {__version__} listening on {url}", flush=True)


def _serve(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format, settings.node_id)
    _use_uvloop()
    url = f"http://{settings.host}:{settings.port}/"
    try:
        with _one_server_per_data_dir(settings):
            app = create_app(settings)
            gc_policy.apply(app)
            asyncio.run(
                serve(
                    app,
                    settings,
                    announce=lambda: _announce(settings, url),
                )
            )
    except StartupFailed as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    return 0


@contextmanager
def _one_server_per_data_dir(settings: Settings) -> Iterator[None]:
    """Embedded (no REDIS_URL, SQLite): hold the data dir, see chatd/util/instance_lock.py."""
    if not settings.embedded:
        yield
        return
    with ExitStack() as stack:
        try:
            stack.enter_context(hold_data_dir(settings.data_dir))
        except DataDirInUse as exc:
            raise StartupFailed(str(exc)) from exc
        except OSError as exc:
            raise StartupFailed(
                f"cannot use the data dir {settings.data_dir}: {error_line(exc)}"
            ) from exc
        yield


if __name__ == "__main__":
    sys.exit(main())
