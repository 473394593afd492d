"""The audit log: who changed what or ran what, when, with what outcome.

Details are strings, passed through the one e-mail redaction before they are stored: the log
holds names, never an e-mail address nor a secret."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select

from dotsync.redaction import redact_emails as redact
from dotsync.state.schema import audit_log
from dotsync.state.transactions import read_transaction, write_transaction


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, str] = field(default_factory=dict)


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        actor: str,
        action: str,
        target: str,
        outcome: str = "ok",
        detail: Mapping[str, str] | None = None,
    ) -> None:
        clean = {str(k): redact(str(v)) for k, v in (detail or {}).items()}
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(audit_log).values(
                    at=datetime.now(UTC),
                    actor=redact(actor)[:64],
                    action=action[:50],
                    target=redact(target)[:200],
                    outcome=redact(outcome)[:50],
                    detail=json.dumps(clean, sort_keys=True) if clean else None,
                )
            )

    def entries(
        self,
        *,
        target: str | None = None,
        actions: Collection[str] = (),
        limit: int = 200,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """The newest entries first, optionally of one target and some actions."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        if actions:
            query = query.where(audit_log.c.action.in_(list(actions)))
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        with read_transaction(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AuditEntry(
                id=int(r["id"]),
                at=r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC),
                actor=r["actor"],
                action=r["action"],
                target=r["target"],
                outcome=r["outcome"],
                detail=json.loads(r["detail"]) if r["detail"] else {},
            )
            for r in rows
        ]
