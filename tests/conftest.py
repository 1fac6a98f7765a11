pytest_plugins = [
    "tests.fixtures.users",
]
