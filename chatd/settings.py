"""One frozen Settings object, read from the environment and a `.env` file.

Validation happens here, at start-up, so a bad value stops chatd with one line
naming the variable instead of a traceback minutes later.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from chatd.util.private_files import PRIVATE_FILE_MODE, make_private_dirs, tighten_file

#: Multi-node deployments share tokens across processes; a short secret there is
#: a guessable one. 32 bytes matches HS256's own key size recommendation.
MIN_SECRET_BYTES = 32
SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name, not a secret

#: Variables platforms set in every process, and the platform they mean. Their
#: disks are ephemeral (lost on every deploy or restart), so the embedded
#: defaults would quietly lose users, messages, files and the token secret.
EPHEMERAL_PLATFORMS = {
    "DYNO": "Heroku",
    "RENDER": "Render",
    "FLY_APP_NAME": "Fly.io",
    "RAILWAY_ENVIRONMENT": "Railway",
    "K_SERVICE": "Cloud Run",
}


class SettingsError(Exception):
    """A configuration value is missing or wrong; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    secret_key: str = ""
    #: Origins allowed to open /ws (exact scheme://host[:port]); empty = same origin only.
    allowed_origins: tuple[str, ...] = ()
    mongodb_uri: str | None = None
    redis_url: str | None = None
    #: Prefix of every Redis key and channel chatd uses, the room channels included.
    redis_prefix: str = "chatd:"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    #: The origin browsers reach S3 at, when it is not S3_ENDPOINT_URL (an
    #: address inside a private network): presigned download URLs point there.
    s3_public_endpoint_url: str | None = None
    #: Create the bucket at start-up when it is missing (instead of refusing to start).
    s3_create_bucket: bool = False
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_region: str = "us-east-1"
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    #: "relay" makes every client send media through TURN only (hides peers'
    #: addresses from each other; also how the tests prove the TURN path).
    ice_transport_policy: str = "all"
    #: A DM call rings the other members this long before it counts as missed.
    call_ring_seconds: float = 30.0
    #: Largest accepted upload; 25 MB as the product promises.
    max_upload_bytes: int = 25 * 1024 * 1024
    #: Upload requests a user may make per minute, across nodes (each may carry
    #: up to 10 files). Generous for people, a brake on scripts filling the disk.
    upload_rate: int = 20
    log_level: str = "INFO"
    #: `text` (a line per record, for people) or `json` (an object per line, for
    #: log collectors).
    log_format: str = "text"
    #: One log line per HTTP request; off by default, as a proxy usually logs them.
    access_log: bool = False
    #: Bearer token that opens GET /metrics on the main port (None: 404 there).
    metrics_token: str | None = None
    #: Serve /metrics on this port instead, without a token (None: no listener).
    metrics_port: int | None = None
    #: bcrypt work factor; 12 costs about 200 ms on a 2-core server core (measured).
    bcrypt_rounds: int = 12
    #: Messages a user may send per second (burst: twice that), per node.
    message_rate: float = 5.0
    #: Seconds a connection stays listed online without a heartbeat (crashed nodes).
    presence_ttl: float = 45.0
    #: Login throttling (chatd/auth/throttle.py). Failed logins per account and
    #: address (and per known device) before back-off starts: typos, not guesses.
    login_free_failures: int = 5
    #: Failed logins per address across accounts before back-off: a school or
    #: office NAT puts many people's typos behind one address.
    login_address_failures: int = 100
    #: Failed logins per account from devices it never logged in from, per
    #: window, before those are refused (devices with its cookie still get in).
    login_account_failures: int = 20
    #: Seconds failed logins are remembered; also the longest back-off.
    login_window: float = 15 * 60.0
    #: Accounts one address may create per register window: a family or a class
    #: signing up together fits, a script filling the database does not.
    register_limit: int = 20
    register_window: float = 3600.0
    #: Wrong current passwords per user before password changes back off: a
    #: stolen access token must not become a way to guess the password.
    password_failures: int = 5
    #: Open sockets per user across nodes (several browsers, tabs and phones).
    sockets_per_user: int = 50
    #: Open sockets per client address across nodes (many users behind a NAT).
    sockets_per_address: int = 1000
    #: Behind a PaaS router, the client address is the last X-Forwarded-For hop.
    trust_proxy: bool = False
    #: After SIGTERM, /readyz answers 503 this long before the sockets close, so
    #: a load balancer (which polls every few seconds) stops sending new clients
    #: to a node that is going away; 0 closes at once.
    drain_seconds: float = 5.0
    #: True when the token secret was generated into the data dir (none was set).
    secret_generated: bool = False
    #: The platform (`Heroku (DYNO)`) whose ephemeral disk holds the data dir:
    #: detected from its variables, unless CHATD_DATA_DIR was set explicitly.
    ephemeral_platform: str | None = None
    #: Stable id of this process in pub/sub envelopes; generated per start.
    node_id: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def embedded(self) -> bool:
        """True when neither a shared store nor a shared broker is configured."""
        return self.mongodb_uri is None and self.redis_url is None

    @property
    def ephemeral_disk_warning(self) -> str | None:
        """One line naming what to set, when the data dir's contents will not survive."""
        if self.ephemeral_platform is None:
            return None
        unset = [
            name
            for name, on_disk in (
                ("MONGODB_URI", self.mongodb_uri is None),
                ("S3_BUCKET", self.s3_bucket is None),
                ("CHATD_SECRET_KEY", self.secret_generated),
            )
            if on_disk
        ]
        if not unset:
            return None
        return (
            f"running on {self.ephemeral_platform}, whose disk is lost on every restart, "
            f"with {self.data_dir} holding what {', '.join(unset)} would keep elsewhere: "
            f"set {', '.join(unset)} (or CHATD_DATA_DIR to a persistent volume)"
        )

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "chatd.db"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


#: Every default, stated once (on the fields above): the loader falls back to these.
_DEFAULTS = Settings()


def _merged_environment(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """The process environment over the `.env` file: a real env var always wins."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    return merged


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = _optional(env, name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise SettingsError(
            name, f"unknown scheme {parts.scheme!r} (expected one of {', '.join(schemes)})"
        )
    try:
        _ = parts.port
    except ValueError as exc:
        raise SettingsError(name, f"unparseable URL ({exc})") from None
    if not parts.hostname and parts.scheme not in ("unix",):
        raise SettingsError(name, "URL has no host")
    return value


def _port(value: str, name: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(name, f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(name, f"port {port} out of range 0-65535")
    return port


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _optional(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(name, f"not a whole number: {value!r}") from None
    if number <= 0:
        raise SettingsError(name, "must be greater than 0")
    return number


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _optional(env, name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise SettingsError(name, f"not a number: {value!r}") from None


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    number = _float(env, name, default)
    if not number > 0:
        raise SettingsError(name, "must be greater than 0")
    return number


def _non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    number = _float(env, name, default)
    if not 0 <= number < float("inf"):
        raise SettingsError(name, "must be 0 or more")
    return number


def _int_range(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    number = _positive_int(env, name, default)
    if not low <= number <= high:
        raise SettingsError(name, f"must be between {low} and {high}")
    return number


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(name, f"expected true or false, got {value!r}")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _ice_urls(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
    urls = _list(env, name)
    for url in urls:
        if url.split(":", 1)[0].lower() not in schemes or ":" not in url:
            raise SettingsError(name, f"{url!r} is not a {' or '.join(schemes)} URL")
    return urls


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    origins = _list(env, "CHATD_ALLOWED_ORIGINS")
    for origin in origins:
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
        ):
            raise SettingsError(
                "CHATD_ALLOWED_ORIGINS", f"not an origin (scheme://host[:port]): {origin!r}"
            )
    return tuple(o.rstrip("/") for o in origins)


def _s3_public_endpoint(env: Mapping[str, str]) -> str | None:
    """An origin only: presigned URLs are signed for its host, and their path is S3's."""
    name = "S3_PUBLIC_ENDPOINT_URL"
    url = _url(env, name, ("http", "https"))
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(name, f"not an origin (scheme://host[:port]): {url!r}")
    return url.rstrip("/")


def _s3_only(env: Mapping[str, str], bucket: str | None, *names: str) -> None:
    """Refuse S3 options without S3_BUCKET: they would silently do nothing."""
    for name in names:
        if bucket is None and _optional(env, name) is not None:
            raise SettingsError(name, "only takes effect with S3_BUCKET set")


def _ephemeral_platform(env: Mapping[str, str]) -> str | None:
    if _optional(env, "CHATD_DATA_DIR") is not None:
        return None  # the operator chose where data lives (a mounted volume)
    for variable, platform in EPHEMERAL_PLATFORMS.items():
        if _optional(env, variable) is not None:
            return f"{platform} ({variable})"
    return None


def _secret(env: Mapping[str, str], data_dir: Path, shared: bool) -> str:
    """The explicit secret, or (embedded only) one generated once and kept in the data dir."""
    explicit = _optional(env, "CHATD_SECRET_KEY")
    if explicit is not None:
        if shared and len(explicit.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                "CHATD_SECRET_KEY",
                f"must be at least {MIN_SECRET_BYTES} bytes when MONGODB_URI or REDIS_URL is set",
            )
        return explicit
    if shared:
        raise SettingsError(
            "CHATD_SECRET_KEY",
            "required when MONGODB_URI or REDIS_URL is set (every node must share it); "
            f"use at least {MIN_SECRET_BYTES} random bytes",
        )
    return _stored_secret(data_dir)


def _stored_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE_NAME
    try:
        make_private_dirs(data_dir)
        try:
            # O_EXCL: two processes starting at once must not both write a secret.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError:
            tighten_file(path)
            secret = path.read_text().strip()
            if len(secret) < MIN_SECRET_BYTES:
                raise SettingsError(
                    "CHATD_SECRET_KEY", f"stored secret {path} is damaged; delete it"
                ) from None
            return secret
        secret = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
        return secret
    except OSError as exc:
        raise SettingsError(
            "CHATD_DATA_DIR", f"cannot keep the secret key in {path}: {exc}"
        ) from None


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = Path(".env"),
    host: str | None = None,
    port: int | None = None,
) -> Settings:
    """Read and validate the configuration; raise SettingsError naming the bad variable."""
    env = _merged_environment(os.environ if environ is None else environ, env_file)
    data_dir = Path(env.get("CHATD_DATA_DIR", "").strip() or _DEFAULTS.data_dir)
    mongodb_uri = _url(env, "MONGODB_URI", ("mongodb", "mongodb+srv"))
    redis_url = _url(env, "REDIS_URL", ("redis", "rediss", "unix"))
    s3_bucket = _optional(env, "S3_BUCKET")
    s3_endpoint = _url(env, "S3_ENDPOINT_URL", ("http", "https"))
    _s3_only(env, s3_bucket, "S3_PUBLIC_ENDPOINT_URL", "S3_CREATE_BUCKET")
    env_port = _optional(env, "PORT")
    level = (_optional(env, "CHATD_LOG_LEVEL") or _DEFAULTS.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("CHATD_LOG_LEVEL", f"unknown level {level!r}")
    ice_policy = (
        _optional(env, "CHATD_ICE_TRANSPORT_POLICY") or _DEFAULTS.ice_transport_policy
    ).lower()
    if ice_policy not in ("all", "relay"):
        raise SettingsError(
            "CHATD_ICE_TRANSPORT_POLICY", f"expected all or relay, got {ice_policy!r}"
        )
    turn_urls = _ice_urls(env, "TURN_URLS", ("turn", "turns"))
    turn_secret = _optional(env, "TURN_SECRET")
    if turn_urls and turn_secret is None:
        raise SettingsError("TURN_SECRET", "required with TURN_URLS (coturn's static-auth-secret)")
    login_free_failures = _positive_int(
        env, "CHATD_LOGIN_FREE_FAILURES", _DEFAULTS.login_free_failures
    )
    login_address_failures = _positive_int(
        env, "CHATD_LOGIN_ADDRESS_FAILURES", _DEFAULTS.login_address_failures
    )
    if login_address_failures < login_free_failures:
        raise SettingsError(
            "CHATD_LOGIN_ADDRESS_FAILURES",
            f"must be at least CHATD_LOGIN_FREE_FAILURES ({login_free_failures})",
        )
    log_format = (_optional(env, "CHATD_LOG_FORMAT") or _DEFAULTS.log_format).lower()
    if log_format not in ("text", "json"):
        raise SettingsError("CHATD_LOG_FORMAT", f"expected text or json, got {log_format!r}")
    metrics_port_value = _optional(env, "CHATD_METRICS_PORT")
    metrics_port = (
        None if metrics_port_value is None else _port(metrics_port_value, "CHATD_METRICS_PORT")
    )
    main_port = port if port is not None else (_port(env_port, "PORT") if env_port else None)
    if metrics_port and metrics_port == (_DEFAULTS.port if main_port is None else main_port):
        raise SettingsError(
            "CHATD_METRICS_PORT", f"must differ from the main port ({metrics_port})"
        )
    sockets_per_user = _positive_int(env, "CHATD_SOCKETS_PER_USER", _DEFAULTS.sockets_per_user)
    sockets_per_address = _positive_int(
        env, "CHATD_SOCKETS_PER_ADDRESS", _DEFAULTS.sockets_per_address
    )
    if sockets_per_address < sockets_per_user:
        raise SettingsError(
            "CHATD_SOCKETS_PER_ADDRESS",
            f"must be at least CHATD_SOCKETS_PER_USER ({sockets_per_user})",
        )
    return Settings(
        host=host or _DEFAULTS.host,
        port=port
        if port is not None
        else (_port(env_port, "PORT") if env_port else _DEFAULTS.port),
        data_dir=data_dir,
        secret_key=_secret(env, data_dir, shared=bool(mongodb_uri or redis_url)),
        allowed_origins=_origins(env),
        mongodb_uri=mongodb_uri,
        redis_url=redis_url,
        redis_prefix=_optional(env, "CHATD_REDIS_PREFIX") or _DEFAULTS.redis_prefix,
        s3_bucket=s3_bucket,
        s3_endpoint_url=s3_endpoint,
        s3_public_endpoint_url=_s3_public_endpoint(env),
        s3_create_bucket=_flag(env, "S3_CREATE_BUCKET"),
        aws_access_key_id=_optional(env, "AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=_optional(env, "AWS_SECRET_ACCESS_KEY"),
        aws_region=_optional(env, "AWS_REGION") or _DEFAULTS.aws_region,
        stun_urls=_ice_urls(env, "STUN_URLS", ("stun", "stuns")),
        turn_urls=turn_urls,
        turn_secret=turn_secret,
        ice_transport_policy=ice_policy,
        call_ring_seconds=_positive_float(
            env, "CHATD_CALL_RING_SECONDS", _DEFAULTS.call_ring_seconds
        ),
        max_upload_bytes=_positive_int(env, "CHATD_MAX_UPLOAD_BYTES", _DEFAULTS.max_upload_bytes),
        upload_rate=_positive_int(env, "CHATD_UPLOAD_RATE", _DEFAULTS.upload_rate),
        log_level=level,
        log_format=log_format,
        access_log=_flag(env, "CHATD_ACCESS_LOG"),
        metrics_token=_optional(env, "CHATD_METRICS_TOKEN"),
        metrics_port=metrics_port,
        bcrypt_rounds=_int_range(env, "CHATD_BCRYPT_ROUNDS", _DEFAULTS.bcrypt_rounds, 4, 16),
        trust_proxy=_flag(env, "CHATD_TRUST_PROXY"),
        drain_seconds=_non_negative_float(env, "CHATD_DRAIN_SECONDS", _DEFAULTS.drain_seconds),
        message_rate=_positive_float(env, "CHATD_MESSAGE_RATE", _DEFAULTS.message_rate),
        presence_ttl=_positive_float(env, "CHATD_PRESENCE_TTL", _DEFAULTS.presence_ttl),
        login_free_failures=login_free_failures,
        login_address_failures=login_address_failures,
        login_account_failures=_positive_int(
            env, "CHATD_LOGIN_ACCOUNT_FAILURES", _DEFAULTS.login_account_failures
        ),
        login_window=_positive_float(env, "CHATD_LOGIN_WINDOW", _DEFAULTS.login_window),
        register_limit=_positive_int(env, "CHATD_REGISTER_LIMIT", _DEFAULTS.register_limit),
        register_window=_positive_float(env, "CHATD_REGISTER_WINDOW", _DEFAULTS.register_window),
        password_failures=_positive_int(
            env, "CHATD_PASSWORD_FAILURES", _DEFAULTS.password_failures
        ),
        sockets_per_user=sockets_per_user,
        sockets_per_address=sockets_per_address,
        secret_generated=_optional(env, "CHATD_SECRET_KEY") is None,
        ephemeral_platform=_ephemeral_platform(env),
    )
