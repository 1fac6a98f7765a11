pytest_plugins = [
    "tests.fixtures.files",
    "tests.fixtures.users",
    "tests.fixtures.browser",
    "tests.fixtures.s3",
]
