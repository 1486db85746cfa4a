"""Which CRC-32C implementation kafka-python uses in this process (issue 11).

kafka-python checks a CRC-32C over every record batch it produces or fetches. Without the
optional `crc32c` extension it computes it in pure Python, which cost 3x on producing and
7x on consuming here; every Kafka benchmark prints this so its raw baseline is known to be
the best honest configuration of the raw client.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def crc_implementation() -> str:
    from kafka.record import util

    try:
        from crc32c import crc32c as accelerated
    except ImportError:
        accelerated = None
    if accelerated is not None and util._crc32c is accelerated:  # what kafka-python calls
        try:
            return f"crc32c {version('crc32c')} (C extension)"
        except PackageNotFoundError:
            return "crc32c (C extension)"
    return "pure Python (kafka.record._crc32c): the slow client"
