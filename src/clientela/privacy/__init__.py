"""Privacy: forget a person (GDPR art. 17), export a copy of their data (art. 15), and
drop raw bytes after ``[privacy] keep_raw_days``.

* :func:`forget` removes the person (every id and email resolved to them) from the landed
  segments, the CRM rows, the quarantine, the HTTP log not landed yet and every published
  version, and keeps salted hashes of their identities (tombstones) so landing drops them
  if they come back (:func:`load_tombstones`, :func:`tombstone_filter_sql`).
* :func:`export` / :func:`write_export` gather everything held about them as one JSON
  document.
* :func:`apply_retention` drops the verbatim raw text of landed events older than the
  setting, keeping every normalised column.

Every operation appends an audit record (who, when, what, how many; no PII) to
``state/audit.jsonl``. See ``docs/privacy.md``.
"""

from clientela.privacy.export import export, write_export
from clientela.privacy.forget import ForgetHook, ForgetReport, forget
from clientela.privacy.retention import RetentionReport, apply_retention
from clientela.privacy.store import (
    Tombstones,
    actor_of_cli,
    landing_lock,
    load_tombstones,
    read_audit,
    tombstone_filter_sql,
)
from clientela.privacy.subject import Subject, resolve_subject

__all__ = [
    "ForgetHook",
    "ForgetReport",
    "RetentionReport",
    "Subject",
    "Tombstones",
    "actor_of_cli",
    "apply_retention",
    "export",
    "forget",
    "landing_lock",
    "load_tombstones",
    "read_audit",
    "resolve_subject",
    "tombstone_filter_sql",
    "write_export",
]
