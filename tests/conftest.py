pytest_plugins = ["tests.fixtures.redis"]
