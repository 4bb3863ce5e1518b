"""Shared pytest configuration: fixture plugins every test directory may use."""

pytest_plugins = [
    "tests.fixtures.mongo",
    "tests.fixtures.redis",
    "tests.fixtures.s3",
    "tests.fixtures.app",
    "tests.fixtures.disk",
    "tests.fixtures.turn",
    "tests.fixtures.plugins",
]
