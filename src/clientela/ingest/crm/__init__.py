"""CRM imports: contacts and accounts from CSV or Parquet, with a column mapping.

A CRM export loads without editing: ``[import.contacts]`` / ``[import.accounts]`` in
``clientela.toml`` (or flags) say which column holds the id, the email, the account and so on,
and well-known English and Spanish column names are found on their own (:mod:`.columns`);
every other column becomes a trait under its snake_case ASCII name. The delimiter and the
encoding are sniffed per file (:mod:`.read`), dates read in the common formats
(:mod:`.dates`). A row that cannot be read (a field too many, no id, a date that is no date)
goes to quarantine with its file, line and reason; the rest of the file still lands. Two rows
with the same id: one lands whole (:mod:`.importer` says which), the other is quarantined.
"""

from clientela.ingest.crm.columns import snake_case
from clientela.ingest.crm.importer import ImportReport, domain_sql, import_file

__all__ = ["ImportReport", "domain_sql", "import_file", "snake_case"]
