"""The encrypted storage engine: stored content as blobs, and nothing about who uses them.

It owns the Blob model, the at-rest format (crypto.py), the master keys and their rotation
(masterkeys.py), the backends (backends/: local directory, S3), streaming writes (writer.py),
ranged reads (reader.py), resumable writes across requests (resumable.py), taking blobs into use
and deleting them (blobs.py) and the cleanups of what crashes leave behind (cleanup.py). It
imports nothing from the apps that use it (files, sharing, accounts); tests/storage/
test_boundary.py keeps it so. See docs/architecture.md.
"""
