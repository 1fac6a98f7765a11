"""The adversarial suite reuses the sharing fixtures: alice's stored files and her links."""

from tests.sharing.conftest import (  # noqa: F401 - fixtures
    _clear_throttles,
    make_folder,
    report,
    share_of,
    store_file,
)
