"""Which CRM column plays which role: names compared accent- and case-insensitively.

A header is reduced to its snake_case ASCII form ('Correo electrónico' → 'correo_electronico',
'LastModifiedDate' → 'last_modified_date', 'Person - Email' → 'person_email') and looked up in
the names that English and Spanish CRM exports use (HubSpot, Salesforce, Pipedrive, Zoho, Odoo).
The same form names the traits, so accented letters are folded, never deleted.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from clientela.errors import ConfigError

Kind = Literal["contacts", "accounts"]

# Letters that Unicode does not decompose into an ASCII letter and a mark.
_FOLD = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L"}
)
_FOLD.update(str.maketrans({"œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "\u0131": "i"}))


def ascii_fold(text: str) -> str:
    """'Teléfono' → 'Telefono', 'Straße' → 'Strasse': accents dropped, letters kept."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def snake_case(name: str) -> str:
    """'Job Title' → 'job_title', 'AnnualRevenue' → 'annual_revenue', 'Teléfono' → 'telefono'."""
    folded = ascii_fold(name.strip())
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", folded)
    return re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()


# Column names recognised without any mapping, in snake_case, best first.
_CONTACT_ID = (
    "id", "contact_id", "record_id", "user_id", "userid", "person_id", "lead_id",
    "external_id", "identificador", "id_contacto", "id_de_contacto", "id_cliente",
)  # fmt: skip
_ACCOUNT_ID = (
    "account_id", "company_id", "organization_id", "organisation_id", "group_id",
    "id_empresa", "id_de_empresa", "id_cuenta", "id_de_cuenta", "associated_company_id",
)  # fmt: skip
_ALIASES: dict[Kind, dict[str, tuple[str, ...]]] = {
    "contacts": {
        "id": _CONTACT_ID,
        "email": (
            "email",
            "email_address",
            "e_mail",
            "work_email",
            "person_email",
            "primary_email",
            "correo_electronico",
            "correo",
            "correo_e",
            "email_principal",
            "direccion_de_correo",
            "direccion_de_correo_electronico",
        ),
        "account_id": _ACCOUNT_ID,
        "created_at": (
            "created_at",
            "created_date",
            "create_date",
            "created",
            "created_time",
            "created_on",
            "date_created",
            "signup_date",
            "add_time",
            "person_add_time",
            "fecha_de_alta",
            "fecha_alta",
            "fecha_de_creacion",
            "fecha_creacion",
        ),
    },
    "accounts": {
        "id": ("id", "record_id", *_ACCOUNT_ID, "external_id", "identificador"),
        "name": (
            "name",
            "account_name",
            "company_name",
            "company",
            "organization_name",
            "organisation_name",
            "nombre_de_la_empresa",
            "nombre_empresa",
            "empresa",
            "razon_social",
            "nombre",
            "cuenta",
        ),
        "domain": (
            "domain",
            "website",
            "web_site",
            "url",
            "company_domain",
            "company_domain_name",
            "organization_website",
            "dominio",
            "sitio_web",
            "pagina_web",
            "web",
        ),
    },
}
_MODIFIED = (
    "last_modified_date", "modified_at", "modified_date", "modified_time", "modified",
    "last_modified", "updated_at", "last_updated", "last_updated_on", "update_time",
    "person_update_time", "fecha_de_modificacion", "fecha_modificacion",
    "ultima_modificacion", "fecha_de_actualizacion",
)  # fmt: skip
for _roles in _ALIASES.values():
    _roles["modified_at"] = _MODIFIED


def roles(kind: Kind) -> tuple[str, ...]:
    """The roles a file of this kind can map, in the order they are looked for."""
    return tuple(_ALIASES[kind])


def pick(
    columns: list[str], wanted: str | None, role: str, kind: Kind, taken: set[str]
) -> str | None:
    """The column for a role: the mapped one (which must exist), else a well-known name.

    A mapped name matches exactly, else ignoring case and accents. A column already taken by
    another role is not offered again.
    """
    if wanted:
        if wanted in columns:
            return wanted
        folded = [c for c in columns if snake_case(c) == snake_case(wanted)]
        if len(folded) == 1:
            return folded[0]
        raise ConfigError(
            f"import.{kind}.{role}",
            wanted,
            "a column of the file; it has: " + ", ".join(columns),
        )
    by_snake: dict[str, str] = {}
    for col in columns:
        if col not in taken:
            by_snake.setdefault(snake_case(col), col)
    for alias in _ALIASES[kind][role]:
        if alias in by_snake:
            return by_snake[alias]
    return None


def trait_names(columns: list[str], reserved: set[str]) -> dict[str, str]:
    """column → trait name (snake_case); two columns that fold to one name get '_2', '_3'."""
    names: dict[str, str] = {}
    seen = set(reserved)
    for col in columns:
        base = snake_case(col) or "column"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names[col] = name
    return names
