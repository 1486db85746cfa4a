"""A record's value is the same bytes whichever JSON library writes it: `encode_payload`
(orjson since issue 11) against the json.dumps form the contract was first published in,
on generated payload-shaped documents (text anywhere, control characters and non-ASCII
included; ints of any size, beyond 64 bits included)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lapor_es.contract.payloads import encode_payload


def first_form(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text())
documents = st.dictionaries(
    st.text(),
    st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)
        ),
        max_leaves=10,
    ),
    max_size=8,
)


@given(documents)
def test_encode_payload_writes_the_first_forms_bytes(payload: dict[str, Any]) -> None:
    assert encode_payload(payload) == first_form(payload)


def test_an_int_beyond_64_bits_is_still_encoded() -> None:
    payload = {"version": 2**70, "type": "Filed"}
    assert encode_payload(payload) == b'{"type":"Filed","version":1180591620717411303424}'
