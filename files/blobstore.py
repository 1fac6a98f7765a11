"""Placeholder: replaced by the content-storage work (see files/content.py contract)."""


class _Store:
    def check(self) -> None:
        return None


def get_blobstore():
    return _Store()
