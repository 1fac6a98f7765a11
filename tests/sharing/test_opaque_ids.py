"""Opaque ids inside a folder share (sharing.tokens): the share's cipher is set up once per
process, not per id, and a changed SECRET_KEY never answers with the old one."""

import threading
import uuid

from sharing import tokens

TOKEN_HASH = "a" * 64


def test_naming_many_ids_sets_up_the_shares_cipher_once(monkeypatch):
    built = []
    real = tokens._share_cipher

    def counting(token_hash):
        built.append(token_hash)
        return real(token_hash)

    monkeypatch.setattr(tokens, "_share_cipher", counting)
    tokens._opaque_ids.cache_clear()
    ids = [uuid.uuid4() for _ in range(50)]
    opaque = [tokens.opaque_id(TOKEN_HASH, public_id) for public_id in ids]
    assert [tokens.opaque_id_resolve(TOKEN_HASH, text) for text in opaque] == ids
    assert built == [TOKEN_HASH]


def test_another_secret_key_gives_other_ids(settings):
    public_id = uuid.uuid4()
    before = tokens.opaque_id(TOKEN_HASH, public_id)
    settings.SECRET_KEY = "another secret key, rotated" * 2
    after = tokens.opaque_id(TOKEN_HASH, public_id)
    assert after != before
    assert tokens.opaque_id_resolve(TOKEN_HASH, after) == public_id
    assert tokens.opaque_id_resolve(TOKEN_HASH, before) != public_id


def test_threads_sharing_the_cached_cipher_get_the_right_ids():
    ids = [uuid.uuid4() for _ in range(2000)]
    expected = [tokens.OpaqueIds(TOKEN_HASH).encode(public_id) for public_id in ids]
    results: dict[int, list[str]] = {}

    def name_all(number: int) -> None:
        results[number] = [tokens.opaque_id(TOKEN_HASH, public_id) for public_id in ids]

    threads = [threading.Thread(target=name_all, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {number: expected for number in range(8)}
