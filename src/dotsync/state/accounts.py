"""The console's users and the first admin's one-time setup link, in the state database.

Every change of role or password and every removal raises the user's session generation, which
ends the sessions signed with the old one (see ``dotsync.console.sessions``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dotsync.console.users import Role, User
from dotsync.errors import ConfigError
from dotsync.state.schema import setup_tokens, users
from dotsync.state.transactions import read_transaction, write_transaction


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: Role
    password_hash: str
    session_generation: int
    created_at: datetime
    created_by: str | None

    @property
    def user(self) -> User:
        return User(self.name, self.role)


class UserError(ConfigError):
    """A user that does not exist, already exists, or the last admin about to go (exit 2)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _account(row: Row[object]) -> Account:
    m = row._mapping
    return Account(
        id=int(m["id"]),
        name=str(m["name"]),
        role=Role(m["role"]),
        password_hash=str(m["password_hash"]),
        session_generation=int(m["session_generation"]),
        created_at=_aware(m["created_at"]),
        created_by=m["created_by"],
    )


class Accounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, role: Role, password_hash: str, *, created_by: str) -> Account:
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    insert(users).values(
                        name=name,
                        role=role.value,
                        password_hash=password_hash,
                        session_generation=0,
                        created_at=_now(),
                        created_by=created_by,
                    )
                )
        except IntegrityError:
            raise UserError(f"a user named {name!r} already exists") from None
        return self.require(name)

    def get(self, name: str) -> Account | None:
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return _account(row) if row else None

    def by_id(self, user_id: int) -> Account | None:
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _account(row) if row else None

    def require(self, name: str) -> Account:
        account = self.get(name)
        if account is None:
            raise UserError(f"no user named {name!r} (`dotsync users list` lists them)")
        return account

    def all(self) -> list[Account]:
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [_account(row) for row in rows]

    def has_admin(self) -> bool:
        with read_transaction(self.engine) as conn:
            count = conn.execute(
                select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value)
            ).scalar_one()
        return bool(count)

    def set_role(self, name: str, role: Role) -> None:
        with write_transaction(self.engine) as conn:
            self._keep_an_admin(conn, name, losing=role is not Role.ADMIN)
            conn.execute(
                update(users)
                .where(users.c.name == name)
                .values(role=role.value, session_generation=users.c.session_generation + 1)
            )

    def set_password(self, name: str, password_hash: str, *, end_sessions: bool = True) -> None:
        bump = 1 if end_sessions else 0
        with write_transaction(self.engine) as conn:
            done = conn.execute(
                update(users)
                .where(users.c.name == name)
                .values(
                    password_hash=password_hash,
                    session_generation=users.c.session_generation + bump,
                )
            )
            if not done.rowcount:
                raise UserError(f"no user named {name!r} (`dotsync users list` lists them)")

    def remove(self, name: str) -> None:
        with write_transaction(self.engine) as conn:
            self._keep_an_admin(conn, name, losing=True)
            conn.execute(delete(users).where(users.c.name == name))

    def _keep_an_admin(self, conn: Connection, name: str, *, losing: bool) -> None:
        """Refuses a change that would leave no admin (nobody could manage users then); also
        refuses an unknown name."""
        row = conn.execute(select(users.c.role).where(users.c.name == name)).first()
        if row is None:
            raise UserError(f"no user named {name!r} (`dotsync users list` lists them)")
        if not losing or row[0] != Role.ADMIN.value:
            return
        admins = conn.execute(
            select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value)
        ).scalar_one()
        if admins <= 1:
            raise UserError(
                f"{name!r} is the only admin: make another user admin first "
                "(`dotsync users set-role NAME admin`)"
            )

    # --- the first admin's setup link ------------------------------------------------------------

    def new_setup_token(self, token: str, expires_at: datetime) -> None:
        """Keeps ``token`` (its digest) as the only valid setup link, until ``expires_at``."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(setup_tokens))
            conn.execute(
                insert(setup_tokens).values(
                    token_hash=token_digest(token), created_at=_now(), expires_at=expires_at
                )
            )

    def setup_token_valid(self, token: str, now: datetime | None = None) -> bool:
        with read_transaction(self.engine) as conn:
            row = conn.execute(
                select(setup_tokens.c.expires_at).where(
                    setup_tokens.c.token_hash == token_digest(token)
                )
            ).first()
        return row is not None and _aware(row[0]) > (now or _now())

    def create_first_admin(self, token: str, name: str, password_hash: str) -> Account:
        """Uses the setup link once: in one transaction, checks the token, that no admin exists,
        creates the admin and forgets every setup token."""
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                select(setup_tokens.c.expires_at).where(
                    setup_tokens.c.token_hash == token_digest(token)
                )
            ).first()
            if row is None or _aware(row[0]) <= _now():
                raise UserError("this setup link is not valid: it was used, replaced or expired")
            admins = conn.execute(
                select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value)
            ).scalar_one()
            if admins:
                raise UserError("an admin exists already: sign in instead")
            taken = conn.execute(select(users.c.id).where(users.c.name == name)).first()
            if taken is not None:
                raise UserError(f"a user named {name!r} already exists")
            conn.execute(delete(setup_tokens))
            conn.execute(
                insert(users).values(
                    name=name,
                    role=Role.ADMIN.value,
                    password_hash=password_hash,
                    session_generation=0,
                    created_at=_now(),
                    created_by="setup",
                )
            )
        return self.require(name)

    def forget_setup_tokens(self) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(delete(setup_tokens))
