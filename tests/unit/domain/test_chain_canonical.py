"""The canonical form behind every event hash must not move: `canonical_value` (made faster
in issue 11) gives, for any value, exactly what its first definition gave. The reference
below is that first definition, kept verbatim; a change of canonical form would break every
stored chain, so it is compared on generated values, nested as payloads nest them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from lapor_es.aggregates.chain import canonical_value


def reference(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): reference(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reference(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


class Kind(StrEnum):
    COMPLAINT = "complaint"
    ASPIRATION = "aspiration"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
# Years from 1000: below it an aware datetime's conversion to UTC can leave the range, and
# glibc's strftime does not pad the year, which is why canonical_value keeps strftime there.
instants = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.uuids(),
    instants,
    st.sampled_from(list(Kind)),
    st.sampled_from(list(Level)),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)


@given(values)
def test_canonical_value_is_its_first_definition(value: Any) -> None:
    got, want = canonical_value(value), reference(value)
    assert got == want
    assert type(got) is type(want)


@given(st.datetimes(timezones=st.just(UTC)))
def test_every_utc_instant_has_the_first_definitions_text(value: datetime) -> None:
    assert canonical_value(value) == reference(value)
    assert str(canonical_value(value)).endswith("Z")
