"""`lapor-es principals`: who may use the door (the HTTP service), with which token.

`add` and `rotate` print a token once: only its hash is stored, so a lost token is rotated,
never recovered. `list` never prints a token or a hash. Tokens are issued on the database
host by an operator, like `lapor-es exec`; the door itself has no route that makes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from lapor_es import bootstrap as boot
from lapor_es.aggregates import Channel, UnknownAgency
from lapor_es.auth.principals import (
    InvalidPrincipal,
    Principal,
    PrincipalRole,
    PrincipalStore,
    UnknownPrincipal,
)
from lapor_es.cli.text import plain

T = TypeVar("T")
app = typer.Typer(help="Principals of the HTTP door and their bearer tokens", no_args_is_help=True)


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="text or json")]


def principal_json(principal: Principal, now: datetime) -> dict[str, Any]:
    return {
        "id": principal.id,
        "name": principal.name,
        "role": str(principal.role),
        "agency": principal.agency,
        "channel": None if principal.channel is None else str(principal.channel),
        "status": status(principal, now),
        "created_at": principal.created_at.isoformat(),
        "expires_at": None if principal.expires_at is None else principal.expires_at.isoformat(),
        "revoked_at": None if principal.revoked_at is None else principal.revoked_at.isoformat(),
    }


def status(principal: Principal, now: datetime) -> str:
    if principal.revoked_at is not None:
        return "revoked"
    return "active" if principal.active_at(now) else "expired"


def fail(code: str, message: str) -> typer.Exit:
    typer.echo(json.dumps({"ok": False, "code": code, "error": message}), err=True)
    return typer.Exit(1)


def run(action: Callable[[PrincipalStore, datetime], T]) -> T:
    """`action(store, now)` on the configured principal store; store errors become exit 1."""
    settings = boot.load_settings()
    engine = boot.auth_engine(settings)
    try:
        return action(boot.principal_store(settings, engine), datetime.now(UTC))
    except InvalidPrincipal as exc:
        raise fail("invalid_principal", exc.message) from exc
    except UnknownPrincipal as exc:
        raise fail("unknown_principal", str(exc)) from exc
    finally:
        engine.dispose()


def show_token(principal: Principal, token: str, now: datetime, fmt: Format) -> None:
    if fmt == Format.JSON:
        typer.echo(
            json.dumps({"ok": True, "principal": principal_json(principal, now), "token": token})
        )
        return
    where = principal.agency or principal.channel
    typer.echo(
        f"principal {principal.id}: {principal.name}, {principal.role}"
        + (f" ({where})" if where else "")
    )
    typer.echo(f"token: {token}")
    typer.echo("Shown once and stored only as a hash: keep it in a secret store now.", err=True)


def require_agency(code: str) -> None:
    """An agency admin bound to a code the directory does not know could never act."""
    lapor = boot.open_app(boot.load_settings())
    try:
        lapor.agency(code)
    except UnknownAgency as exc:
        raise fail(
            "unknown_agency", f"{exc.message}: load the directory first (agencies load)"
        ) from exc
    finally:
        lapor.close()


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="who holds the token; becomes the actor id")],
    role: Annotated[PrincipalRole, typer.Option("--role", help="what the principal may do")],
    agency: Annotated[
        str | None, typer.Option("--agency", help="agency_admin: the agency code it acts for")
    ] = None,
    channel: Annotated[
        Channel | None, typer.Option("--channel", help="channel: the channel it files through")
    ] = None,
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", min=1, help="days until the token expires")
    ] = None,
    fmt: FormatOption = Format.TEXT,
) -> None:
    """Add a principal and print its bearer token (once)."""
    if agency and role == PrincipalRole.AGENCY_ADMIN:
        require_agency(agency)

    def action(store: PrincipalStore, now: datetime) -> None:
        expires_at = None if expires_in is None else now + timedelta(days=expires_in)
        principal, token = store.add(
            name, role, agency=agency, channel=channel, expires_at=expires_at, now=now
        )
        show_token(principal, token, now, fmt)

    run(action)


@app.command("list")
def list_principals(fmt: FormatOption = Format.TEXT) -> None:
    """Every principal with its status (active, expired, revoked); never a token or hash."""

    def action(store: PrincipalStore, now: datetime) -> list[dict[str, Any]]:
        return [principal_json(p, now) for p in store.list()]

    rows: list[dict[str, Any]] = run(action)
    if fmt == Format.JSON:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(
        "id", "name", "role", "agency/channel", "status", "expires", title=f"{len(rows)} principals"
    )
    for row in rows:
        table.add_row(
            plain(row["id"]),
            plain(row["name"]),
            plain(row["role"]),
            plain(row["agency"] or row["channel"]),
            plain(row["status"]),
            plain(row["expires_at"]),
        )
    Console().print(table)


@app.command("revoke")
def revoke(
    principal_id: Annotated[str, typer.Argument(metavar="ID", help="the principal's id")],
    fmt: FormatOption = Format.TEXT,
) -> None:
    """Revoke a principal: its token stops working at once, for good."""

    def action(store: PrincipalStore, now: datetime) -> dict[str, Any]:
        return principal_json(store.revoke(principal_id, now), now)

    row: dict[str, Any] = run(action)
    if fmt == Format.JSON:
        typer.echo(json.dumps({"ok": True, "principal": row}))
    else:
        typer.echo(f"principal {row['id']} ({row['name']}) revoked at {row['revoked_at']}")


@app.command("rotate")
def rotate(
    principal_id: Annotated[str, typer.Argument(metavar="ID", help="the principal's id")],
    fmt: FormatOption = Format.TEXT,
) -> None:
    """Issue a new token for a principal and print it (once); the old token stops working."""

    def action(store: PrincipalStore, now: datetime) -> None:
        principal, token = store.rotate(principal_id, now)
        show_token(principal, token, now, fmt)

    run(action)
