"""Measure segment encryption and decryption throughput for a few segment sizes.

    python bench/crypto.py [--mib 256] [--sizes 16,64,256,1024]

Prints MB/s (10^6 bytes per second) for encrypt and decrypt of --mib MiB of random data, cut
into segments the way storage/writer.py does it, and the storage overhead of each size.
"""

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.crypto import (  # noqa: E402
    TAG_SIZE,
    SegmentDecryptor,
    SegmentEncryptor,
    encrypted_size,
    new_data_key,
)


def bench(segment_size: int, data: bytes, rounds: int) -> tuple[float, float]:
    key = new_data_key()
    view = memoryview(data)
    count = len(data) // segment_size
    best_enc = best_dec = float("inf")
    for _ in range(rounds):
        enc = SegmentEncryptor(key, segment_size)
        sealed = []
        started = time.perf_counter()
        for index in range(count):
            chunk = view[index * segment_size : (index + 1) * segment_size]
            sealed.append(enc.encrypt_segment(index, chunk, last=index == count - 1))
        best_enc = min(best_enc, time.perf_counter() - started)
        dec = SegmentDecryptor(key, enc.header, expected_segment_size=segment_size)
        started = time.perf_counter()
        for index, segment in enumerate(sealed):
            dec.decrypt_segment(index, segment, last=index == count - 1)
        best_dec = min(best_dec, time.perf_counter() - started)
    return len(data) / best_enc / 1e6, len(data) / best_dec / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="data per round, in MiB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="16,64,128,256,1024", help="segment sizes in KiB")
    args = parser.parse_args()
    data = os.urandom(args.mib * 1024 * 1024)
    print(f"{args.mib} MiB random data, best of {args.rounds} rounds")
    print(f"{'segment':>9} {'encrypt MB/s':>13} {'decrypt MB/s':>13} {'overhead':>9}")
    for kib in (int(s) for s in args.sizes.split(",")):
        segment_size = kib * 1024
        enc, dec = bench(segment_size, data, args.rounds)
        overhead = (encrypted_size(len(data), segment_size) - len(data)) / len(data)
        print(f"{kib:>6} KiB {enc:>13.0f} {dec:>13.0f} {overhead:>8.4%}")
    print(f"(tag per segment: {TAG_SIZE} bytes)")
    best = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        hashlib.sha256(data).digest()
        best = min(best, time.perf_counter() - started)
    print(f"SHA-256 of the plaintext (uploads compute it too): {len(data) / best / 1e6:.0f} MB/s")


if __name__ == "__main__":
    main()
