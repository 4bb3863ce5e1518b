pytest_plugins = ["tests.fixtures.redis", "tests.fixtures.s3"]
