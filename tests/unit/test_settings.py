"""Settings: one frozen object from env and .env, validated with errors that name the variable."""

from __future__ import annotations

import os
import stat

import pytest

from chatd.settings import SettingsError, load_settings


def settings(tmp_path, **env):
    return load_settings({"CHATD_DATA_DIR": str(tmp_path), **env}, env_file=None)


def test_embedded_defaults(tmp_path):
    s = settings(tmp_path)
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert s.embedded and s.mongodb_uri is None and s.redis_url is None and s.s3_bucket is None
    assert s.sqlite_path == tmp_path / "chatd.db"


def test_port_comes_from_PORT_unless_given(tmp_path):
    assert settings(tmp_path, PORT="5000").port == 5000
    assert (
        load_settings(
            {"PORT": "5000", "CHATD_DATA_DIR": str(tmp_path)}, env_file=None, port=6000
        ).port
        == 6000
    )


def test_a_generated_secret_is_private_and_survives_restarts(tmp_path):
    first = settings(tmp_path).secret_key
    assert len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600
    assert settings(tmp_path).secret_key == first


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=7000\nCHATD_LOG_LEVEL=debug\n")
    s = load_settings({"PORT": "7001", "CHATD_DATA_DIR": str(tmp_path)}, env_file=env_file)
    assert s.port == 7001 and s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"REDIS_URL": "memcached://x"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://:bad:port"}, "REDIS_URL"),
        ({"MONGODB_URI": "postgres://x"}, "MONGODB_URI"),
        ({"S3_ENDPOINT_URL": "ftp://x"}, "S3_ENDPOINT_URL"),
        ({"S3_BUCKET": "b", "S3_PUBLIC_ENDPOINT_URL": "s3.example.com"}, "S3_PUBLIC_ENDPOINT_URL"),
        (
            {"S3_BUCKET": "b", "S3_PUBLIC_ENDPOINT_URL": "https://s3.example.com/files"},
            "S3_PUBLIC_ENDPOINT_URL",
        ),
        ({"S3_PUBLIC_ENDPOINT_URL": "https://s3.example.com"}, "S3_PUBLIC_ENDPOINT_URL"),
        ({"S3_BUCKET": "b", "S3_CREATE_BUCKET": "perhaps"}, "S3_CREATE_BUCKET"),
        ({"S3_CREATE_BUCKET": "true"}, "S3_CREATE_BUCKET"),
        ({"CHATD_ALLOWED_ORIGINS": "https://ok.example,nope"}, "CHATD_ALLOWED_ORIGINS"),
        ({"CHATD_BCRYPT_ROUNDS": "3"}, "CHATD_BCRYPT_ROUNDS"),
        ({"CHATD_MAX_UPLOAD_BYTES": "-1"}, "CHATD_MAX_UPLOAD_BYTES"),
        ({"CHATD_TRUST_PROXY": "maybe"}, "CHATD_TRUST_PROXY"),
        ({"CHATD_LOGIN_FREE_FAILURES": "0"}, "CHATD_LOGIN_FREE_FAILURES"),
        ({"CHATD_LOGIN_ACCOUNT_FAILURES": "many"}, "CHATD_LOGIN_ACCOUNT_FAILURES"),
        ({"CHATD_LOGIN_WINDOW": "-5"}, "CHATD_LOGIN_WINDOW"),
        (
            {"CHATD_LOGIN_FREE_FAILURES": "10", "CHATD_LOGIN_ADDRESS_FAILURES": "5"},
            "CHATD_LOGIN_ADDRESS_FAILURES",
        ),
        ({"CHATD_REGISTER_LIMIT": "1.5"}, "CHATD_REGISTER_LIMIT"),
        ({"CHATD_REGISTER_WINDOW": "0"}, "CHATD_REGISTER_WINDOW"),
        ({"CHATD_PASSWORD_FAILURES": "abc"}, "CHATD_PASSWORD_FAILURES"),
        ({"CHATD_SOCKETS_PER_USER": "0"}, "CHATD_SOCKETS_PER_USER"),
        (
            {"CHATD_SOCKETS_PER_USER": "100", "CHATD_SOCKETS_PER_ADDRESS": "10"},
            "CHATD_SOCKETS_PER_ADDRESS",
        ),
        ({"CHATD_DRAIN_SECONDS": "-1"}, "CHATD_DRAIN_SECONDS"),
        ({"CHATD_DRAIN_SECONDS": "soon"}, "CHATD_DRAIN_SECONDS"),
        ({"CHATD_DRAIN_SECONDS": "inf"}, "CHATD_DRAIN_SECONDS"),
        ({"REDIS_URL": "redis://127.0.0.1:6379"}, "CHATD_SECRET_KEY"),
        ({"MONGODB_URI": "mongodb://h/db", "CHATD_SECRET_KEY": "short"}, "CHATD_SECRET_KEY"),
    ],
)
def test_bad_values_name_their_variable(tmp_path, env, variable):
    with pytest.raises(SettingsError) as error:
        settings(tmp_path, **env)
    assert error.value.variable == variable
    assert str(error.value).startswith(variable)


def test_abuse_limits_have_defaults_no_normal_user_meets_and_can_be_set(tmp_path):
    s = settings(tmp_path)
    assert (s.login_free_failures, s.login_address_failures, s.login_account_failures) == (
        5,
        100,
        20,
    )
    assert (s.login_window, s.register_limit, s.register_window) == (900, 20, 3600)
    assert (s.password_failures, s.sockets_per_user, s.sockets_per_address) == (5, 50, 1000)
    s = settings(
        tmp_path,
        CHATD_LOGIN_WINDOW="0.5",
        CHATD_REGISTER_LIMIT="3",
        CHATD_SOCKETS_PER_USER="2",
        CHATD_SOCKETS_PER_ADDRESS="4",
    )
    assert (s.login_window, s.register_limit, s.sockets_per_user) == (0.5, 3, 2)
    assert s.sockets_per_address == 4


def test_the_drain_window_defaults_to_5_s_and_0_turns_it_off(tmp_path):
    assert settings(tmp_path).drain_seconds == 5.0
    assert settings(tmp_path, CHATD_DRAIN_SECONDS="0").drain_seconds == 0.0
    assert settings(tmp_path, CHATD_DRAIN_SECONDS="1.5").drain_seconds == 1.5


def test_lists_are_comma_separated(tmp_path):
    s = settings(
        tmp_path,
        STUN_URLS="stun:a:3478, stun:b:3478",
        CHATD_ALLOWED_ORIGINS="https://chat.example/",
    )
    assert s.stun_urls == ("stun:a:3478", "stun:b:3478")
    assert s.allowed_origins == ("https://chat.example",)


def test_s3_public_endpoint_and_create_bucket(tmp_path):
    s = settings(tmp_path, S3_BUCKET="b")
    assert s.s3_public_endpoint_url is None and not s.s3_create_bucket
    s = settings(
        tmp_path,
        S3_BUCKET="b",
        S3_ENDPOINT_URL="http://minio:9000",
        S3_PUBLIC_ENDPOINT_URL="https://files.example.com/",
        S3_CREATE_BUCKET="true",
    )
    assert s.s3_public_endpoint_url == "https://files.example.com" and s.s3_create_bucket


@pytest.mark.parametrize(
    ("marker", "platform"),
    [
        ("DYNO", "Heroku"),
        ("RENDER", "Render"),
        ("FLY_APP_NAME", "Fly.io"),
        ("RAILWAY_ENVIRONMENT", "Railway"),
        ("K_SERVICE", "Cloud Run"),
    ],
)
def test_embedded_defaults_on_an_ephemeral_platform_are_one_warning(
    tmp_path, monkeypatch, marker, platform
):
    monkeypatch.chdir(tmp_path)  # the default data dir, ./data, lands here
    line = load_settings({marker: "web.1"}, env_file=None).ephemeral_disk_warning
    assert line is not None and "\n" not in line
    assert f"{platform} ({marker})" in line
    assert "set MONGODB_URI, S3_BUCKET, CHATD_SECRET_KEY" in line


def test_no_ephemeral_warning_off_platform_or_with_everything_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert settings(tmp_path).ephemeral_disk_warning is None
    # An explicit data dir: the operator put it on a volume.
    assert settings(tmp_path, DYNO="web.1").ephemeral_disk_warning is None
    shared = {
        "MONGODB_URI": "mongodb://db/chatd",
        "S3_BUCKET": "b",
        "CHATD_SECRET_KEY": "k" * 40,
        "DYNO": "web.1",
    }
    assert load_settings(shared, env_file=None).ephemeral_disk_warning is None
    only_secret = {"CHATD_SECRET_KEY": "k" * 40, "DYNO": "web.1"}
    line = load_settings(only_secret, env_file=None).ephemeral_disk_warning
    assert line is not None and "set MONGODB_URI, S3_BUCKET (" in line
