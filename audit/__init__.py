"""Append-only, tamper-evident audit log: hash chain + RFC 6962 Merkle tree + signed checkpoints.

Knows nothing of Scrapy or of the ``vetting`` package: SQLAlchemy Core, ``cryptography``
and the standard library only. See ``docs/audit.md``.
"""
from __future__ import annotations

from audit.events import Event, canonical_bytes
from audit.export import ExportResult, export_log
from audit.log import AuditLog, Checkpoint
from audit.merkle import verify_consistency, verify_inclusion
from audit.timeline import case_timeline, describe
from audit.verify import Problem, VerifyReport, verify_log

__all__ = [
    "AuditLog", "Checkpoint", "Event", "ExportResult", "Problem", "VerifyReport",
    "canonical_bytes", "case_timeline", "describe", "export_log", "verify_consistency",
    "verify_inclusion", "verify_log",
]
