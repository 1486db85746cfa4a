"""The behaviour every principal store and access-code store must have, written once.

A test module subclasses `PrincipalStoreContract` / `AccessCodeStoreContract` as a `Test...`
class and provides the `stores` fixture: the in-memory stores in tests/unit/auth, the SQL
stores on SQLite and on PostgreSQL in tests/integration/test_auth_store.py. `raw()` returns
everything the store keeps, as text (a table scan for SQL): no token, secret or code may
appear in it, only digests.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from lapor_es.aggregates.values import Channel
from lapor_es.auth.access import AccessCodeStore, TooManyAttempts
from lapor_es.auth.principals import (
    InvalidPrincipal,
    PrincipalRole,
    PrincipalStore,
    UnknownPrincipal,
)

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
TRACKING = "LAP-2026-0000001"
OTHER = "LAP-2026-0000002"
UNKNOWN = "LAP-2026-0999999"
# The limit the stores under test are built with (the defaults: 5 wrong codes per 15 min).
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
TOKEN = re.compile(r"^lpr_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")


@dataclass
class Stores:
    principals: PrincipalStore
    codes: AccessCodeStore
    raw: Callable[[], str]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def secret_of(token: str) -> str:
    match = TOKEN.match(token)
    assert match, token
    return match[2]


def tampered(token: str) -> str:
    """The token with the last character of its secret changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


class PrincipalStoreContract:
    # ------------------------------------------------------------------ tokens
    def test_a_token_names_its_principal_and_carries_256_random_bits(self, stores: Stores) -> None:
        principal, token = stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        match = TOKEN.match(token)
        assert match and match[1] == principal.id
        assert len(base64.urlsafe_b64decode(match[2] + "=")) == 32
        tokens = [
            stores.principals.add(f"p-{i}", PrincipalRole.ANALYST, now=NOW) for i in range(50)
        ]
        assert len({secret_of(token) for _, token in tokens}) == 50
        assert len({p.id for p, _ in tokens}) == 50

    def test_the_token_authenticates_its_principal(self, stores: Stores) -> None:
        principal, token = stores.principals.add(
            "kemenkes-desk", PrincipalRole.AGENCY_ADMIN, agency="KEMENKES", now=NOW
        )
        assert stores.principals.authenticate(token, NOW) == principal
        assert principal.agency == "KEMENKES" and principal.channel is None
        assert stores.principals.get(principal.id) == principal

    def test_only_the_hash_of_the_secret_is_stored(self, stores: Stores) -> None:
        _, token = stores.principals.add(
            "sms-gateway", PrincipalRole.CHANNEL, channel=Channel.SMS_1708, now=NOW
        )
        raw = stores.raw()
        assert secret_of(token) not in raw and token not in raw
        assert sha256(secret_of(token)) in raw

    @pytest.mark.parametrize(
        "malformed",
        [
            lambda token: "",
            lambda token: "lpr_",
            lambda token: "Bearer " + token,
            lambda token: token + "\n",
            lambda token: " " + token,
            lambda token: token[:-1],
            lambda token: token + "a",
            lambda token: token + "=",
            lambda token: token.upper(),
            lambda token: "LPR" + token[3:],
            lambda token: token.replace("_", "-", 2),
            lambda token: token[:-1] + "é",
            lambda token: token * 200,
        ],
    )
    def test_a_malformed_token_authenticates_nobody(
        self, stores: Stores, malformed: Callable[[str], str]
    ) -> None:
        _, token = stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        assert stores.principals.authenticate(token, NOW) is not None
        assert stores.principals.authenticate(malformed(token), NOW) is None

    def test_a_wrong_secret_or_another_principals_secret_authenticates_nobody(
        self, stores: Stores
    ) -> None:
        first, token_a = stores.principals.add("a", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        _, token_b = stores.principals.add("b", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        assert stores.principals.authenticate(tampered(token_a), NOW) is None
        assert stores.principals.authenticate(f"lpr_{first.id}_{secret_of(token_b)}", NOW) is None
        assert stores.principals.authenticate(f"lpr_ffffffffffff_{secret_of(token_a)}", NOW) is None

    # ------------------------------------------------------------------ revoke, rotate, expiry
    def test_a_revoked_token_stops_working(self, stores: Stores) -> None:
        principal, token = stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        revoked = stores.principals.revoke(principal.id, NOW + timedelta(hours=1))
        assert revoked.revoked_at == NOW + timedelta(hours=1)
        assert stores.principals.authenticate(token, NOW + timedelta(hours=2)) is None
        again = stores.principals.revoke(principal.id, NOW + timedelta(hours=3))
        assert again.revoked_at == NOW + timedelta(hours=1)  # the first revocation holds
        assert stores.principals.get(principal.id) == revoked

    def test_rotating_replaces_the_token(self, stores: Stores) -> None:
        principal, old = stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        same, new = stores.principals.rotate(principal.id, NOW)
        assert same == principal and new != old
        assert new.startswith(f"lpr_{principal.id}_") and TOKEN.match(new)
        assert stores.principals.authenticate(old, NOW) is None
        assert stores.principals.authenticate(new, NOW) == principal
        assert secret_of(new) not in stores.raw() and sha256(secret_of(old)) not in stores.raw()

    def test_a_revoked_principal_cannot_be_rotated_back_to_life(self, stores: Stores) -> None:
        principal, _ = stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        stores.principals.revoke(principal.id, NOW)
        with pytest.raises(InvalidPrincipal, match="revoked"):
            stores.principals.rotate(principal.id, NOW)

    def test_an_expired_token_stops_working(self, stores: Stores) -> None:
        expiry = NOW + timedelta(days=30)
        principal, token = stores.principals.add(
            "timer", PrincipalRole.SYSTEM, expires_at=expiry, now=NOW
        )
        assert principal.expires_at == expiry
        assert stores.principals.authenticate(token, expiry - timedelta(seconds=1)) == principal
        assert stores.principals.authenticate(token, expiry) is None
        assert stores.principals.authenticate(token, expiry + timedelta(days=1)) is None

    def test_unknown_principals(self, stores: Stores) -> None:
        assert stores.principals.get("0123456789ab") is None
        with pytest.raises(UnknownPrincipal):
            stores.principals.revoke("0123456789ab", NOW)
        with pytest.raises(UnknownPrincipal):
            stores.principals.rotate("0123456789ab", NOW)

    # ------------------------------------------------------------------ rules
    @pytest.mark.parametrize(
        ("role", "agency", "channel", "expires_at", "message"),
        [
            ("agency_admin", None, None, None, "bound to one agency"),
            ("national_admin", "KEMENKES", None, None, "bound to no agency"),
            ("agency_admin", "not a code", None, None, "not an agency code"),
            ("channel", None, None, None, "needs its channel"),
            ("channel", None, "fax", None, "unknown channel"),
            ("auditor", None, "web", None, "through no channel"),
            ("superuser", None, None, None, "unknown role"),
            ("analyst", None, None, NOW, "in the future"),
        ],
    )
    def test_an_invalid_principal_is_refused(
        self,
        stores: Stores,
        role: str,
        agency: str | None,
        channel: str | None,
        expires_at: datetime | None,
        message: str,
    ) -> None:
        with pytest.raises(InvalidPrincipal, match=message):
            stores.principals.add(
                "someone",
                role,  # type: ignore[arg-type]
                agency=agency,
                channel=channel,  # type: ignore[arg-type]
                expires_at=expires_at,
                now=NOW,
            )
        assert stores.principals.list() == []

    @pytest.mark.parametrize("name", ["", " ", "-desk", "x" * 129, "desk\nofficer"])
    def test_a_name_is_a_plain_label(self, stores: Stores, name: str) -> None:
        with pytest.raises(InvalidPrincipal, match="a name is"):
            stores.principals.add(name, PrincipalRole.NATIONAL_ADMIN, now=NOW)

    def test_names_are_unique_even_after_revocation(self, stores: Stores) -> None:
        first, _ = stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        stores.principals.revoke(first.id, NOW)
        with pytest.raises(InvalidPrincipal, match="exists already"):
            stores.principals.add("desk-1", PrincipalRole.AUDITOR, now=NOW)

    def test_the_list_shows_every_principal_and_no_secret(self, stores: Stores) -> None:
        added = [
            stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW),
            stores.principals.add(
                "web-portal",
                PrincipalRole.CHANNEL,
                channel=Channel.WEB,
                now=NOW + timedelta(seconds=1),
            ),
            stores.principals.add("bps", PrincipalRole.ANALYST, now=NOW + timedelta(seconds=2)),
        ]
        listed = stores.principals.list()
        assert listed == [principal for principal, _ in added]
        assert listed[1].channel == Channel.WEB
        for _, token in added:
            assert secret_of(token) not in repr(listed)
            assert sha256(secret_of(token)) not in repr(listed)


class AccessCodeStoreContract:
    def test_a_code_has_100_random_bits_in_readable_groups(self, stores: Stores) -> None:
        code = stores.codes.issue(TRACKING, NOW)
        assert CODE.match(code), code  # 20 characters of 32 kinds: 100 bits
        codes = {stores.codes.issue(f"LAP-2026-{i:07d}", NOW) for i in range(100)}
        assert len(codes) == 100

    def test_the_code_opens_its_complaint(self, stores: Stores) -> None:
        code = stores.codes.issue(TRACKING, NOW)
        assert stores.codes.check(TRACKING, code, NOW, client="10.0.0.1") is True
        typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
        assert stores.codes.check(TRACKING, typed, NOW, client="10.0.0.1") is True

    def test_the_code_opens_no_other_complaint(self, stores: Stores) -> None:
        code = stores.codes.issue(TRACKING, NOW)
        stores.codes.issue(OTHER, NOW)
        assert stores.codes.check(OTHER, code, NOW, client="10.0.0.1") is False

    def test_a_new_code_replaces_the_old_one(self, stores: Stores) -> None:
        old = stores.codes.issue(TRACKING, NOW)
        new = stores.codes.issue(TRACKING, NOW + timedelta(minutes=1))
        assert stores.codes.check(TRACKING, old, NOW, client="10.0.0.1") is False
        assert stores.codes.check(TRACKING, new, NOW, client="10.0.0.1") is True

    def test_only_the_hash_of_the_code_is_stored(self, stores: Stores) -> None:
        code = stores.codes.issue(TRACKING, NOW)
        stores.codes.check(TRACKING, "WRONG-CODE", NOW, client="203.0.113.7")
        raw = stores.raw()
        assert code not in raw and code.replace("-", "") not in raw
        assert sha256(code.replace("-", "")) in raw
        assert "203.0.113.7" not in raw  # the client's address is personal data too

    @pytest.mark.parametrize("wrong", ["", "x", "0000-0000-0000-0000-0000", "é" * 30, "A" * 5000])
    def test_a_wrong_code_opens_nothing(self, stores: Stores, wrong: str) -> None:
        stores.codes.issue(TRACKING, NOW)
        assert stores.codes.check(TRACKING, wrong, NOW, client="10.0.0.1") is False

    # ------------------------------------------------------------------ the limit
    def test_wrong_codes_for_one_complaint_lock_it_for_the_window(self, stores: Stores) -> None:
        code = stores.codes.issue(TRACKING, NOW)
        for attempt in range(MAX_FAILURES):  # from different clients: the complaint counts
            at = NOW + timedelta(minutes=attempt)
            assert stores.codes.check(TRACKING, "WRONG", at, client=f"10.0.0.{attempt}") is False
        later = NOW + timedelta(minutes=5)
        with pytest.raises(TooManyAttempts) as refused:
            stores.codes.check(TRACKING, code, later, client="10.0.1.1")  # even the right code
        # Unlocked when the first failure leaves the window: 15 min after NOW.
        assert refused.value.retry_after_seconds == 10 * 60
        assert stores.codes.check(OTHER, "WRONG", later, client="10.0.1.1") is False
        assert stores.codes.check(TRACKING, code, NOW + WINDOW, client="10.0.1.1") is True

    def test_wrong_codes_from_one_client_lock_that_client_out(self, stores: Stores) -> None:
        codes = {
            f"LAP-2026-{i:07d}": stores.codes.issue(f"LAP-2026-{i:07d}", NOW) for i in range(7)
        }
        tracking_ids = list(codes)
        for tracking_id in tracking_ids[:MAX_FAILURES]:
            assert stores.codes.check(tracking_id, "WRONG", NOW, client="198.51.100.9") is False
        last = tracking_ids[-1]
        with pytest.raises(TooManyAttempts) as refused:
            stores.codes.check(last, codes[last], NOW, client="198.51.100.9")
        assert refused.value.retry_after_seconds == WINDOW.total_seconds()
        assert stores.codes.check(last, codes[last], NOW, client="198.51.100.10") is True

    def test_refused_and_right_checks_do_not_count(self, stores: Stores) -> None:
        code = stores.codes.issue(TRACKING, NOW)
        for _ in range(10):
            assert stores.codes.check(TRACKING, code, NOW, client="10.0.0.1") is True
        for _ in range(MAX_FAILURES):
            stores.codes.check(TRACKING, "WRONG", NOW, client="10.0.0.1")
        for _ in range(10):  # refusals while locked do not push the unlock further away
            with pytest.raises(TooManyAttempts):
                stores.codes.check(TRACKING, "WRONG", NOW + timedelta(minutes=14), client="x")
        assert stores.codes.check(TRACKING, code, NOW + WINDOW, client="10.0.0.1") is True

    def test_an_unknown_tracking_id_answers_like_a_wrong_code(self, stores: Stores) -> None:
        stores.codes.issue(TRACKING, NOW)
        for attempt in range(MAX_FAILURES):
            assert stores.codes.check(UNKNOWN, "WRONG", NOW, client=f"c{attempt}") is False
            assert stores.codes.check(TRACKING, "WRONG", NOW, client=f"d{attempt}") is False
        with pytest.raises(TooManyAttempts) as unknown:
            stores.codes.check(UNKNOWN, "WRONG", NOW, client="e")
        with pytest.raises(TooManyAttempts) as known:
            stores.codes.check(TRACKING, "WRONG", NOW, client="e")
        assert unknown.value.retry_after_seconds == known.value.retry_after_seconds
