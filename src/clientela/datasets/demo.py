"""Northwind Loom: a deterministic, streaming demo world of contacts, accounts and events.

Northwind Loom (``northwindloom.example``) sells a B2B SaaS line (Loom Team, Loom Business, Loom
Enterprise) and B2C products (the Loom Home Kit, the Loom Yarn Club subscription, accessories).
:func:`generate` writes its world to a directory:

* ``events/events-NNN.jsonl[.gz]`` — Segment-spec messages, one per line, one file per shard;
* ``crm/contacts.csv`` and ``crm/accounts.csv`` — an (incomplete, slightly messy) CRM export;
* ``truth.csv`` — who every contact really is, for testing classifiers and identity stitching;
* ``README.txt`` — what the world is and the spec that made it.

Every contact draws from its own ``random.Random(f"{seed}:{index}")``: first its profile (who
they are, when they arrive, identify, buy, churn), then its events. So a contact's lines do not
depend on the shard count, the CRM files can be written from profiles alone, and events are
streamed contact by contact: memory is bounded by the busiest single contact, not the world.

The few links between contacts (a fan's referral code in a friend's ``Signed Up``, an employee
moderating a fan's post, two colleagues sharing ``info@`` inbox) are derived from a cheap
per-index hash plus the other contact's profile, so they too are independent of shards.
"""

from __future__ import annotations

import csv
import gzip
import multiprocessing
import os
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import log
from pathlib import Path
from random import Random
from typing import IO, Any, Protocol

import orjson

__all__ = [
    "ACADEMIC_SUFFIXES",
    "ACCOUNTS_HEADER",
    "AUDIENCE_CLASSES",
    "B2B_PLANS",
    "BAD_RECORD_KINDS",
    "BAD_RECORD_RATE",
    "COMPANY_NAME",
    "COMPETITOR_DOMAINS",
    "CONTACTS_HEADER",
    "OWN_DOMAINS",
    "TRUTH_HEADER",
    "VENDOR_DOMAINS",
    "DemoSpec",
    "DemoSummary",
    "generate",
    "generate_shard",
    "write_demo_settings",
    "write_reference_files",
]

# --------------------------------------------------------------------------------------------
# Public constants (config presets reuse the domain lists to classify non-buyers)
# --------------------------------------------------------------------------------------------

COMPANY_NAME = "Northwind Loom"
OWN_DOMAINS: tuple[str, ...] = ("northwindloom.example",)
COMPETITOR_DOMAINS: tuple[str, ...] = ("rivalweave.example", "threadcraft.example")
VENDOR_DOMAINS: tuple[str, ...] = ("supplyco.example", "printhaus.example")
ACADEMIC_SUFFIXES: tuple[str, ...] = (".edu", ".ac.uk", "estudiante.example")
AUDIENCE_CLASSES: tuple[str, ...] = (
    "buyer",
    "competitor",
    "student",
    "job_seeker",
    "employee",
    "vendor",
    "bot",
)
B2B_PLANS: tuple[str, ...] = ("Loom Team", "Loom Business", "Loom Enterprise")

CONTACTS_HEADER: tuple[str, ...] = (
    "Contact ID",
    "Email Address",
    "First Name",
    "Last Name",
    "Company",
    "Job Title",
    "Phone",
    "Country",
    "Postal Code",
    "Created Date",
    "Lead Source",
    "Account ID",
)
ACCOUNTS_HEADER: tuple[str, ...] = (
    "Account ID",
    "Account Name",
    "Website",
    "Industry",
    "Employees",
    "Annual Revenue",
    "Founded",
    "Country",
    "Postal Code",
    "Minority Owned",
    "Service Centers",
)
TRUTH_HEADER: tuple[str, ...] = (
    "contact_key",
    "kind",
    "audience_class",
    "account_id",
    "bought",
    "email",
)

# About one line in 5,000 is deliberately broken when ``DemoSpec.bad_records`` is set.
BAD_RECORD_RATE = 1 / 5000
# Segment rejects single messages above 32 KB; the oversized bad record goes just past it.
_MAX_EVENT_BYTES = 32 * 1024
_PROGRESS_STEP = 10_000

# --------------------------------------------------------------------------------------------
# Spec and summary
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSpec:
    """What world to generate. The same spec always yields byte-identical files."""

    contacts: int = 2000
    """Identified and anonymous people, buyers and non-buyers."""
    seed: int = 7
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    end: datetime = datetime(2026, 6, 30, tzinfo=UTC)
    """Fixed, never "now", so the output is deterministic."""
    shards: int = 1
    """Number of event files; contacts are split across shards in contiguous ranges."""
    gzip: bool = False
    """Write ``events-NNN.jsonl.gz`` instead of ``.jsonl``."""
    bad_records: bool = True
    """Sprinkle about one deliberately broken line per 5,000."""

    @property
    def as_of(self) -> datetime:
        """When ``clientela demo`` runs the job: the morning after the world ends (09:00 UTC),
        when the day's actions may go out (the policy holds marketing in quiet hours)."""
        return self.end + timedelta(hours=9)

    def __post_init__(self) -> None:
        if self.contacts < 1:
            raise ValueError(f"DemoSpec.contacts must be at least 1, got {self.contacts}")
        if self.shards < 1:
            raise ValueError(f"DemoSpec.shards must be at least 1, got {self.shards}")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("DemoSpec.start and DemoSpec.end must be timezone-aware datetimes")
        if self.end - self.start < timedelta(days=30):
            raise ValueError(
                f"DemoSpec needs at least 30 days between start ({self.start.isoformat()}) "
                f"and end ({self.end.isoformat()})"
            )


@dataclass(frozen=True)
class DemoSummary:
    """What a run wrote.

    ``events`` counts valid Segment messages (items of a batch envelope count one each);
    ``bad_records`` counts the deliberately broken extra lines; ``accounts`` is the number of
    accounts written by this run (only the run that writes the CRM files counts them).
    """

    contacts: int
    accounts: int
    events: int
    bad_records: int
    files: list[Path]


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------

_SEC = 1000
_MIN = 60 * _SEC
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _iso_formatter() -> Callable[[int], str]:
    """A function formatting epoch milliseconds as ISO-8601 UTC with milliseconds and ``Z``.

    ``datetime.isoformat`` costs about a microsecond per call; with tens of millions of
    timestamps a day-prefix cache plus second/millisecond lookup tables (closed over, so every
    lookup is a local one) is several times faster.
    """
    days: dict[int, str] = {}
    two = [f"{n:02d}" for n in range(60)]
    secs = [h + ":" + m + ":" + sec + "." for h in two[:24] for m in two for sec in two]
    millis = [f"{ms:03d}Z" for ms in range(1000)]

    def iso(t: int) -> str:
        day = t // 86_400_000
        prefix = days.get(day)
        if prefix is None:
            prefix = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            days[day] = prefix
        rest = t - day * 86_400_000
        sec = rest // 1000
        return prefix + secs[sec] + millis[rest - sec * 1000]

    return iso


def _hour_table(weights: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(h for h, w in enumerate(weights) for _ in range(w))


# Hour-of-day weights (UTC ≈ the world's European working day). B2B work happens in office
# hours; consumers browse in the evening.
_B2B_HOURS = _hour_table(
    (0, 0, 0, 0, 0, 1, 2, 6, 12, 16, 16, 14, 9, 12, 15, 14, 11, 7, 4, 3, 2, 2, 1, 1)
)
_B2C_HOURS = _hour_table(
    (3, 2, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 8, 8, 7, 7, 8, 9, 11, 13, 14, 12, 9, 5)
)

# --------------------------------------------------------------------------------------------
# Catalogues
# --------------------------------------------------------------------------------------------

_SITE = "https://northwindloom.example"

_FIRST_NAMES = (
    "Ana", "Lucía", "María", "Paula", "Sara", "Carmen", "Laura", "Marta", "Elena", "Sofía",
    "Uxía", "Noa", "Iria", "Antía", "Xiana", "Alba", "Irene", "Claire", "Emma", "Olivia",
    "Chloe", "Léa", "Inès", "Giulia", "Chiara", "Hanna", "Lena", "Mia", "Ingrid", "Aoife",
    "Priya", "Aisha", "Mei", "Yuki", "Fatima", "Joana", "Beatriz", "Rita", "Julia", "Nora",
    "Pablo", "Hugo", "Daniel", "Martín", "Lucas", "Mateo", "Diego", "Javier", "Carlos", "Manuel",
    "Xoán", "Brais", "Iago", "Antón", "Iñaki", "Jorge", "Álvaro", "Tomás", "Pedro", "João",
    "Rui", "Luca", "Marco", "Jonas", "Felix", "Liam", "Noah", "Oliver", "James", "Arjun",
    "Omar", "Kenji", "Samuel", "David", "Adrián", "Sergio", "Raúl", "Nicolás", "Thomas", "Hassan",
)  # fmt: skip
_LAST_NAMES = (
    "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Álvarez", "Romero",
    "Otero", "Castro", "Souto", "Varela", "Lorenzo", "Vázquez", "Rey", "Pereira", "Silva",
    "Santos", "Ferreira", "Costa", "Oliveira", "Rossi", "Bianchi", "Ricci", "Dubois", "Bernard",
    "Moreau", "Laurent", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Smith", "Jones",
    "Taylor", "Brown", "Wilson", "Evans", "O'Brien", "Murphy", "Kelly", "Novak", "Kowalski",
    "Nowak", "Jansen", "de Vries", "Bakker", "Andersen", "Nielsen", "Larsen", "Patel", "Khan",
    "Singh", "Nguyen", "Tanaka", "Sato", "Kim", "Lee", "Chen", "Wang", "Haddad", "Mansour",
    "Cohen", "Levi", "Ortega", "Iglesias", "Fraga", "Seoane", "Prieto", "Barreiro",
)  # fmt: skip

_COMPANY_WORDS_A = (
    "Acme", "Bright", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper",
    "Kestrel", "Lumen", "Meridian", "Nimbus", "Orchard", "Pioneer", "Quarry", "Riverside",
    "Summit", "Tidal", "Umber", "Vista", "Willow", "Xenon", "Yarrow", "Zephyr", "Atlas", "Beacon",
    "Cobalt", "Dune", "Evergreen", "Falcon", "Golden", "Highland", "Indigo", "Jasper", "Keystone",
    "Lighthouse", "Maple", "Northgate", "Oakridge", "Pinecrest", "Quill", "Redwood", "Silverline",
    "Timber", "Union", "Valley", "Westbrook", "Alder",
)  # fmt: skip
_COMPANY_WORDS_B = (
    "Tools", "Textiles", "Interiors", "Logistics", "Labs", "Studio", "Works", "Fabrics", "Design",
    "Retail", "Hospitality", "Apparel", "Supply", "Crafts", "Mills", "Goods", "Systems",
    "Partners", "Collective", "Outfitters", "Trading", "Furnishings", "Looms", "Threads",
    "Brands", "Group", "Industries", "Atelier", "Commerce", "Living",
)  # fmt: skip
_INDUSTRIES = (
    "Apparel", "Interior Design", "Hospitality", "Retail", "Education", "Manufacturing",
    "Healthcare", "Logistics", "Media", "Software",
)  # fmt: skip

# (country, weight, calling code)
_COUNTRIES = (
    ("ES", 40, "34"), ("PT", 10, "351"), ("FR", 10, "33"), ("DE", 8, "49"), ("IT", 7, "39"),
    ("GB", 8, "44"), ("NL", 5, "31"), ("US", 7, "1"), ("MX", 3, "52"), ("AR", 2, "54"),
)  # fmt: skip
_COUNTRY_TABLE = tuple(c for c, w, _ in _COUNTRIES for _ in range(w))
_TIME_ZONES = {
    "ES": "Europe/Madrid", "PT": "Europe/Lisbon", "FR": "Europe/Paris", "DE": "Europe/Berlin",
    "IT": "Europe/Rome", "GB": "Europe/London", "NL": "Europe/Amsterdam",
    "US": "America/New_York", "MX": "America/Mexico_City", "AR": "America/Argentina/Buenos_Aires",
}  # fmt: skip
# Promotions e-mailed in the world's last week, besides the fortnightly newsletter (how
# many days before the end): with the newsletter, some customers get three in seven days.
_PROMOTIONS = (("cmp_summer_sale", 4), ("cmp_summer_sale_reminder", 2))
_REWARDS = ((100, "5 EUR voucher"), (200, "Free shipping for a year"), (300, "Yarn sampler"))
_CALLING_CODES = {c: code for c, _, code in _COUNTRIES}

_PERSONAL_DOMAINS = ("correo.example", "mailbox.example", "inbox.example", "posteo.example")
_ACADEMIC_DOMAINS = (
    "northbridge.edu", "lakeside.edu", "alumnos.usc-norte.edu", "kingsford.ac.uk",
    "harrowgate.ac.uk", "estudiante.example",
)  # fmt: skip
_COMPETITORS = {"rivalweave.example": "RivalWeave", "threadcraft.example": "ThreadCraft"}
_VENDORS = {"supplyco.example": "SupplyCo", "printhaus.example": "Printhaus"}

_B2B_TITLES = (
    "Head of Operations", "Operations Manager", "Production Manager", "Creative Director",
    "Design Lead", "Procurement Manager", "CTO", "IT Manager", "Store Manager",
    "Merchandising Lead", "COO", "Founder", "Studio Manager", "Textile Designer",
)  # fmt: skip
_COMPETITOR_TITLES = (
    "Product Marketing Manager", "Competitive Intelligence Analyst", "Product Manager",
    "Sales Engineer",
)  # fmt: skip
_VENDOR_TITLES = ("Account Manager", "Sales Representative", "Logistics Coordinator")
_EMPLOYEE_TITLES = (
    "Community Manager", "Support Agent", "Account Executive", "Customer Success Manager",
    "Software Engineer", "Marketing Manager",
)  # fmt: skip
_OCCUPATIONS = (
    "teacher", "nurse", "designer", "engineer", "artisan", "retired", "shop owner", "architect",
    "accountant", "homemaker", "freelancer", "civil servant",
)  # fmt: skip
_SEEKER_OCCUPATIONS = (
    "software engineer", "designer", "marketing specialist", "support specialist", "data analyst",
)  # fmt: skip
_MARITAL = ("single", "married", "partnered", "divorced", "widowed")
_MEMBERSHIPS = ("Loom Rewards", "Loom Rewards Gold", "Weavers Guild", "Craft Makers Club")

# product_id, sku, name, category, price (EUR)
_B2C_PRODUCTS: tuple[tuple[str, str, str, str, float], ...] = (
    ("home-kit", "NWL-HK-01", "Loom Home Kit", "Looms", 189.0),
    ("yarn-club", "NWL-YC-M", "Loom Yarn Club (monthly)", "Subscriptions", 19.9),
    ("shuttle-set", "NWL-AC-SH", "Shuttle Set", "Accessories", 24.5),
    ("yarn-pack", "NWL-AC-YP", "Merino Yarn Pack", "Yarn", 32.0),
    ("heddle", "NWL-AC-HD", "Spare Rigid Heddle", "Accessories", 18.9),
    ("carry-bag", "NWL-AC-CB", "Loom Carry Bag", "Accessories", 39.0),
    ("pattern-book", "NWL-BK-01", "Pattern Book Vol. 1", "Books", 22.0),
    ("warping-board", "NWL-AC-WB", "Warping Board", "Accessories", 45.0),
)
_ACCESSORIES = _B2C_PRODUCTS[2:]
# What a loom owner goes on to buy depends on how they weave: per taste, the chance that an
# order holds each accessory (in _ACCESSORIES order: shuttle set, yarn pack, heddle, carry
# bag, pattern book, warping board). The cross-sell has these affinities to find.
_TASTES: tuple[tuple[float, ...], ...] = (
    (0.15, 0.60, 0.08, 0.08, 0.50, 0.05),  # pattern weavers: yarn and pattern books
    (0.40, 0.08, 0.50, 0.15, 0.05, 0.40),  # gear: shuttles, heddles, then a warping board
    (0.45, 0.15, 0.10, 0.55, 0.10, 0.05),  # weaving on the go: a carry bag and shuttles
)


def _taste(index: int) -> tuple[float, ...]:
    """A B2C customer's taste, fixed by their index (no RNG draw)."""
    return _TASTES[_mix(index ^ 0x7A57E) % len(_TASTES)]


def _favourite(taste: tuple[float, ...], u: float) -> tuple[str, str, str, str, float]:
    """One accessory drawn in proportion to the taste's weights (``u`` uniform in [0, 1))."""
    x = u * sum(taste)
    for product, weight in zip(_ACCESSORIES, taste, strict=True):
        x -= weight
        if x < 0:
            return product
    return _ACCESSORIES[-1]


# plan name, product_id, sku, monthly price per seat (EUR)
_B2B_PLAN_ROWS = (
    (B2B_PLANS[0], "loom-team", "NWL-SAAS-TEAM", 12.0),
    (B2B_PLANS[1], "loom-business", "NWL-SAAS-BUS", 29.0),
    (B2B_PLANS[2], "loom-enterprise", "NWL-SAAS-ENT", 59.0),
)

_BLOG = (
    "choosing-your-first-loom", "rigid-heddle-vs-floor-loom", "colour-theory-for-weavers",
    "sustainable-yarn-sourcing", "weaving-for-interior-designers", "how-hotels-use-textiles",
    "team-pattern-libraries", "from-sketch-to-sample", "yarn-club-march-box", "warp-faced-weaves",
    "scaling-a-textile-studio", "tapestry-basics", "the-economics-of-small-batch",
    "loom-maintenance-checklist", "weaving-with-kids", "case-study-harbor-interiors",
)  # fmt: skip
_DOCS = (
    "getting-started", "pattern-designer", "team-boards", "sso-setup", "api/authentication",
    "api/patterns", "exports", "billing", "inventory", "color-palettes", "release-notes",
)  # fmt: skip
_JOBS = (
    ("jb-101", "senior-backend-engineer"), ("jb-102", "customer-success-manager"),
    ("jb-103", "textile-designer"), ("jb-104", "community-manager"),
    ("jb-105", "account-executive-iberia"), ("jb-106", "support-specialist"),
    ("jb-107", "data-analyst"), ("jb-108", "warehouse-lead"),
)  # fmt: skip
_WEBINAR_TITLES = (
    "Pattern libraries for design teams", "Weaving 101 live", "Scaling a textile studio",
    "What's new in Loom Business", "Sustainable yarn sourcing", "Hotel textiles at scale",
)  # fmt: skip
_SHOW_NAMES = (
    "TexTech Expo Madrid", "Home & Craft Fair Lisbon", "Interiors Summit Paris",
    "Retail Futures Berlin",
)  # fmt: skip
_OFFICES = ("Madrid HQ", "Vigo Studio", "Lisbon Office")
_FEATURES_B2B = (
    "pattern_designer", "team_boards", "color_palette", "export_pdf", "inventory",
    "api_access", "sso", "reports", "comments",
)  # fmt: skip
_FEATURES_B2C = ("pattern_viewer", "yarn_calculator", "project_tracker", "video_lessons")
_SCREENS = ("Home", "Patterns", "Pattern Detail", "Yarn Club", "Projects", "Orders", "Community")
_TICKET_SUBJECTS = (
    "Cannot export pattern to PDF", "Invoice address change", "Missing parts in Home Kit",
    "SSO login fails", "Yarn Club box delayed", "How do I add seats?", "Refund request",
    "Heddle arrived damaged", "API rate limit question", "Change my subscription plan",
)  # fmt: skip
_CANCEL_REASONS = ("too_expensive", "not_using", "switched_competitor", "missing_feature", "other")
_REVIEW_TEXT = {
    1: "Disappointed, support never solved my issue.",
    2: "Not what I expected for the price.",
    3: "Does the job, a few rough edges.",
    4: "Really good, my team uses it every week.",
    5: "Love it! The best loom and pattern tools we have tried.",
}
_REPORT_REASONS = ("spam", "off_topic", "harassment", "misinformation")

_EXTERNAL_REFERRERS = (
    "https://www.google.example/",
    "https://www.google.example/",
    "https://www.linkedin.example/",
    "https://duckduckgo.example/",
    "https://news.textiles.example/",
    "",
    "",
)
_CAMPAIGNS = (
    {"source": "google", "medium": "cpc", "name": "loom-business-search"},
    {"source": "linkedin", "medium": "paid-social", "name": "loom-teams-abm"},
    {"source": "facebook", "medium": "paid-social", "name": "home-kit-spring"},
    {"source": "instagram", "medium": "social", "name": "yarn-club-reels"},
    {"source": "partner", "medium": "referral", "name": "partner-directory"},
)

_DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
)
_MOBILE_WEB_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
)
# library name, version, user agent, os name, os version
_APPS = (
    ("analytics-ios", "4.1.8", "NorthwindLoom/3.4.1 (iPhone15,3; iOS 17.4.1)", "iOS", "17.4.1"),
    ("analytics-android", "4.11.3", "NorthwindLoom/3.4.0 (Linux; Android 14; Pixel 7)",
     "Android", "14"),
)  # fmt: skip
_BOT_UA = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
_LOCALES = {
    "ES": "es-ES",
    "PT": "pt-PT",
    "FR": "fr-FR",
    "DE": "de-DE",
    "IT": "it-IT",
    "GB": "en-GB",
    "NL": "nl-NL",
    "US": "en-US",
    "MX": "es-MX",
    "AR": "es-AR",
}
_WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}
_SHOP_LIBRARY = {"name": "analytics-python", "version": "2.3.3"}
_SERVER_CONTEXT: dict[str, Any] = {"library": _SHOP_LIBRARY, "channel": "server"}
_AGENTS = tuple(f"agt_{k:03d}" for k in range(1, 41))


def _pages(rows: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str, str], ...]:
    return tuple((path, _SITE + path, f"{title} | {COMPANY_NAME}") for path, title in rows)


def _title(slug: str) -> str:
    return slug.replace("/", " ").replace("-", " ").capitalize()


_SECTIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "home": _pages((("/", "Looms and pattern tools for teams and homes"),)),
    "pricing": _pages((("/pricing", "Pricing"),)),
    "product": _pages(
        (
            ("/product/loom-team", "Loom Team"),
            ("/product/loom-business", "Loom Business"),
            ("/product/loom-enterprise", "Loom Enterprise"),
            ("/product/home-kit", "Loom Home Kit"),
            ("/product/yarn-club", "Loom Yarn Club"),
            ("/product/accessories", "Accessories"),
        ),
    ),
    "blog": _pages(tuple((f"/blog/{s}", _title(s)) for s in _BLOG)),
    "docs": _pages(tuple((f"/docs/{s}", _title(s)) for s in _DOCS)),
    "careers": _pages(
        (("/careers", "Careers"), *((f"/careers/jobs/{j}", _title(s)) for j, s in _JOBS))
    ),
    "webinars": _pages((("/webinars", "Webinars"), ("/events", "Events"))),
    "shop": _pages((*((f"/shop/{p[0]}", p[2]) for p in _B2C_PRODUCTS), ("/cart", "Cart"))),
    "community": _pages(
        (
            ("/community", "Community"),
            ("/community/showcase", "Showcase"),
            ("/community/help", "Help"),
        ),
    ),
    "company": _pages(
        (
            ("/about", "About us"),
            ("/contact", "Contact"),
            ("/customers", "Customers"),
            ("/partners", "Partners"),
            ("/legal/privacy", "Privacy"),
        ),
    ),
    "app": _pages(
        (("/app", "Dashboard"), ("/app/patterns", "Patterns"), ("/app/boards", "Boards"))
    ),
}

# How often each audience lands in each section (weights). Competitors study pricing, product and
# docs; students read the blog and docs; job seekers live on /careers.
_INTERESTS: dict[str, dict[str, int]] = {
    "b2b": {
        "home": 3,
        "pricing": 3,
        "product": 4,
        "blog": 3,
        "docs": 1,
        "webinars": 1,
        "company": 1,
    },
    "b2c": {"home": 3, "product": 3, "shop": 4, "blog": 3, "community": 1, "pricing": 1},
    "b2b_customer": {"app": 6, "docs": 3, "blog": 1, "community": 1, "pricing": 1},
    "b2c_customer": {"shop": 4, "community": 2, "blog": 2, "product": 1, "app": 2},
    "competitor": {"pricing": 5, "product": 5, "docs": 4, "blog": 1, "webinars": 1},
    "student": {"blog": 6, "docs": 4, "home": 1, "company": 1},
    "job_seeker": {"careers": 8, "company": 2, "home": 1, "blog": 1},
    "employee": {"docs": 3, "community": 3, "app": 3, "blog": 1},
    "vendor": {"company": 4, "home": 2, "product": 1},
    "bot": {
        s: 1 for s in ("home", "pricing", "product", "blog", "docs", "careers", "shop", "company")
    },
}

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1
_UNIT = 2.0**-53


def _mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread hash of an index (no RNG seeding needed)."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, d = divmod(n, 36)
        out = digits[d] + out
        if n == 0:
            return out


def _slug(text: str) -> str:
    """Lower-case ASCII for e-mail local parts (``Iñaki O'Brien`` → ``inakiobrien``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


def _uuid(rng: Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _ip(rng: Random, datacenter: bool = False) -> str:
    first = (34, 35, 52, 66, 3) if datacenter else (83, 88, 90, 95, 176, 188, 212, 213, 217, 79)
    r = rng.random
    return f"{first[int(r() * len(first))]}.{int(r() * 256)}.{int(r() * 256)}.{1 + int(r() * 254)}"


def _postal_code(rng: Random, country: str) -> str:
    r = rng.random
    if country == "PT":
        return f"{1000 + int(r() * 9000)}-{100 + int(r() * 900)}"
    if country == "GB":
        letters = "ABCDEFGHJKLMNPRSTUWY"
        a, b, c, d = (letters[int(r() * 20)] for _ in range(4))
        return f"{a}{b}{1 + int(r() * 19)} {1 + int(r() * 9)}{c}{d}"
    if country == "NL":
        letters = "ABCDEFGHJKLMNPRSTUVWXZ"
        return f"{1000 + int(r() * 9000)} {letters[int(r() * 22)]}{letters[int(r() * 22)]}"
    if country == "AR":
        return f"C{1000 + int(r() * 500)}"
    return f"{1 + int(r() * 98):02d}{int(r() * 1000):03d}"


def _phone(rng: Random, country: str) -> str:
    r = rng.random
    return (
        f"+{_CALLING_CODES[country]} {600 + int(r() * 400)} {100 + int(r() * 900)} "
        f"{100 + int(r() * 900)}"
    )


# E-mail local parts, computed once: unicodedata is slow enough to matter per contact.
_FIRST_SLUGS = {name: _slug(name) for name in _FIRST_NAMES}
_LAST_SLUGS = {name: _slug(name) for name in _LAST_NAMES}


# --------------------------------------------------------------------------------------------
# Accounts and profiles
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Account:
    index: int
    id: str
    name: str
    domain: str
    industry: str
    employees: int
    annual_revenue: int
    founded: int
    country: str
    postal_code: str
    minority_owned: bool
    service_centers: int
    good_fit: bool
    traits: dict[str, Any] = field(default_factory=dict)

    @property
    def website(self) -> str:
        return f"https://{self.domain}"

    @property
    def plan(self) -> tuple[str, str, str, float]:
        """The plan this company buys: its size decides it."""
        if self.employees < 50:
            return _B2B_PLAN_ROWS[0]
        if self.employees < 500:
            return _B2B_PLAN_ROWS[1]
        return _B2B_PLAN_ROWS[2]


@dataclass(slots=True)
class _Profile:
    """Who a contact is and the anchors of their journey; events fill in the rest."""

    index: int
    uid: str
    audience: str
    kind: str
    outcome: str  # visitor, lead, active, churned, dormant, reactivated, fan
    anon: str
    first_seen: int
    identified: bool = False
    lead_at: int = 0
    buy_at: int = 0
    stop_at: int = 0
    back_at: int = 0
    fan_at: int = 0
    alias_at: int = 0
    legacy_id: str = ""
    referrer: int = -1
    referral_sent_at: int = 0
    account: int = -1
    shared_inbox: bool = False
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    country: str = ""
    postal_code: str = ""
    company: str = ""
    title: str = ""
    lead_source: str = ""
    in_crm: bool = False
    crm_email: str = ""
    yarn_club: bool = False  # B2C customers subscribed to the Loom Yarn Club
    traits: dict[str, Any] = field(default_factory=dict)

    @property
    def bought(self) -> bool:
        return self.buy_at > 0

    @property
    def key(self) -> str:
        return self.uid if self.identified else self.anon


# Days before cancelling over which a churner's use of the product fades.
_FADE_DAYS = 60
_CUSTOMER_OUTCOMES = frozenset({"active", "churned", "dormant", "reactivated", "fan"})
# Buyer-class journeys: where each potential buyer is headed (cumulative probabilities).
_OUTCOMES = (
    (0.42, "visitor"),
    (0.67, "lead"),
    (0.76, "active"),
    (0.86, "churned"),
    (0.91, "dormant"),
    (0.94, "reactivated"),
    (1.00, "fan"),
)
# Non-buyer classes and their share of all contacts; the rest are potential buyers.
_AUDIENCE_SHARES = (
    (0.03, "bot"),
    (0.05, "competitor"),
    (0.08, "student"),
    (0.11, "job_seeker"),
    (0.12, "employee"),
    (0.13, "vendor"),
)
_IDENTIFY_SHARE = {
    "competitor": 0.75,
    "student": 0.6,
    "job_seeker": 0.8,
    "employee": 1.0,
    "vendor": 0.8,
    "bot": 0.0,
}
# Shared-inbox pairs: contacts i and i+1 with i % _PAIR_EVERY == _PAIR_AT share info@company.
_PAIR_EVERY = 500
_PAIR_AT = 17
# How far (in contact indexes) a referral or a moderation reaches.
_LINK_WINDOW = 120
_CACHE_LIMIT = 4096


class _World:
    """Everything derived from the spec alone: calendars, catalogues, profile and account caches.

    One instance per process and run; nothing here is module-global, so parallel shards and
    repeated runs never see each other's state.
    """

    def __init__(self, spec: DemoSpec) -> None:
        self.spec = spec
        self.seed = spec.seed
        self.n = spec.contacts
        self.n_accounts = max(1, spec.contacts // 8)
        self.start = _ms(spec.start)
        self.end = _ms(spec.end)
        self.iso = _iso_formatter()
        self.base = _mix(spec.seed & _M64)
        self._profiles: dict[int, _Profile] = {}
        self._accounts: dict[int, _Account] = {}
        self._archetypes: dict[int, tuple[str, str, str, bool]] = {}
        self.interests = {
            key: tuple(_SECTIONS[s] for s, w in weights.items() if s in _SECTIONS for _ in range(w))
            for key, weights in _INTERESTS.items()
        }
        self._build_calendar()

    # -- calendars shared by every contact: newsletters, webinars, trade shows ---------------

    def _build_calendar(self) -> None:
        rng = Random(f"{self.seed}:calendar")
        # Newsletters and promotions go out every two weeks on Tuesday mornings.
        self.campaigns: list[tuple[int, str, str, tuple[str, ...]]] = []
        targets = [f"/blog/{slug}" for slug in _BLOG] + [
            "/product/loom-business",
            "/shop/home-kit",
            "/product/yarn-club",
            "/webinars",
        ]
        t = self._next_weekday(self.start, 1)
        k = 0
        while t < self.end:
            links = tuple(_SITE + path for path in rng.sample(targets, rng.randint(3, 6)))
            when = t + 8 * _HOUR + int(rng.random() * 2 * _HOUR)
            self.campaigns.append((when, f"cmp_{k:03d}", f"eml_{k:03d}", links))
            t += 14 * _DAY
            k += 1
        self.campaign_times = [c[0] for c in self.campaigns]
        # Webinars every third Thursday afternoon; trade shows every ten weeks, on Tuesdays.
        self.webinars: list[tuple[int, str, str]] = []
        t = self._next_weekday(self.start + 7 * _DAY, 3)
        k = 0
        while t < self.end:
            when = (t // _DAY) * _DAY + 15 * _HOUR
            self.webinars.append((when, f"wb_{k:03d}", _WEBINAR_TITLES[k % len(_WEBINAR_TITLES)]))
            t += 21 * _DAY
            k += 1
        self.webinar_times = [w[0] for w in self.webinars]
        self.shows: list[tuple[int, str]] = []
        t = self._next_weekday(self.start + 40 * _DAY, 1)
        k = 0
        while t < self.end:
            year = (_EPOCH + timedelta(milliseconds=t)).year
            self.shows.append(((t // _DAY) * _DAY + 9 * _HOUR, f"{_SHOW_NAMES[k % 4]} {year}"))
            t += 70 * _DAY
            k += 1
        self.show_times = [s[0] for s in self.shows]

    @staticmethod
    def _next_weekday(t: int, weekday: int) -> int:
        """Midnight of the first day on or after ``t`` that is ``weekday`` (Monday is 0)."""
        day = t // _DAY
        return (day + (weekday - (day + 3) % 7) % 7) * _DAY

    # -- the cheap per-index hash that decides who a contact is ------------------------------

    def archetype(self, i: int) -> tuple[str, str, str, bool]:
        """(audience class, intended outcome, kind, referred) of contact ``i`` from a hash."""
        # Referral and moderation scans ask about the same neighbours again and again.
        cached = self._archetypes.get(i)
        if cached is None:
            if len(self._archetypes) >= _CACHE_LIMIT:
                self._archetypes.clear()
            cached = self._archetypes[i] = self._archetype(i)
        return cached

    def _archetype(self, i: int) -> tuple[str, str, str, bool]:
        h = _mix(self.base ^ i)
        h2 = _mix(h)
        u = (h >> 11) * _UNIT
        u2 = (h2 >> 11) * _UNIT
        u3 = (h2 & 0xFFFF) / 65536
        u4 = ((h >> 16) & 0xFFFF) / 65536
        if self.is_pair(i):
            # Two colleagues behind one shared inbox: both potential buyers at the same company.
            return "buyer", ("lead" if u2 < 0.5 else "active"), "b2b", False
        audience = "buyer"
        for share, name in _AUDIENCE_SHARES:
            if u < share:
                audience = name
                break
        if audience != "buyer":
            kind = "b2b" if audience in ("competitor", "employee", "vendor") else "b2c"
            return audience, "lead", kind, False
        outcome = "fan"
        for share, name in _OUTCOMES:
            if u2 < share:
                outcome = name
                break
        kind = "b2b" if u3 < 0.45 else "b2c"
        referred = u4 < 0.15 and outcome not in ("visitor", "fan")
        return audience, outcome, kind, referred

    def is_pair(self, i: int) -> bool:
        """Whether contact ``i`` is one of two colleagues sharing an ``info@`` inbox."""
        return i % _PAIR_EVERY in (_PAIR_AT, _PAIR_AT + 1) and (
            i - i % _PAIR_EVERY + _PAIR_AT + 1 < self.n
        )

    def account_fit(self, j: int) -> bool:
        """Whether account ``j`` matches the ideal customer profile (a hash, no RNG needed)."""
        return _mix(self.base ^ (j | 1 << 40)) % 100 < 55

    def account(self, j: int) -> _Account:
        cached = self._accounts.get(j)
        if cached is not None:
            return cached
        acc = self.account_uncached(j)
        if len(self._accounts) >= _CACHE_LIMIT:
            self._accounts.clear()
        self._accounts[j] = acc
        return acc

    def account_head(self, j: int) -> tuple[str, str, str]:
        """(name, domain, country) of account ``j``, cheaply: profiles need only these."""
        na, nb = len(_COMPANY_WORDS_A), len(_COMPANY_WORDS_B)
        combos = na * nb
        # A fixed permutation of the index keeps names unique and unordered.
        slot = (j * 617 + self.seed) % combos
        round_ = j // combos
        name = f"{_COMPANY_WORDS_A[slot % na]} {_COMPANY_WORDS_B[slot // na]}"
        if round_:
            name += f" {round_ + 1}"
        domain = "-".join(name.lower().split()) + ".example"
        country = _COUNTRY_TABLE[_mix(self.base ^ (j | 1 << 42)) % len(_COUNTRY_TABLE)]
        return name, domain, country

    def account_uncached(self, j: int) -> _Account:
        """Account ``j`` built from its own RNG (:meth:`account` caches this)."""
        rng = Random(f"{self.seed}:acc:{j}")
        name, domain, country = self.account_head(j)
        good = self.account_fit(j)
        # Good-fit companies are mid-sized and established: what the ideal customer profile says.
        if good:
            employees = int(rng.lognormvariate(log(120), 0.9)) + 10
            founded = rng.randint(1975, 2015)
        else:
            employees = int(rng.lognormvariate(log(12), 1.2)) + 1
            founded = rng.randint(1995, 2024)
        revenue = int(employees * rng.uniform(60_000, 180_000) // 1000 * 1000)
        acc = _Account(
            index=j,
            id=f"acc_{j:05d}",
            name=name,
            domain=domain,
            industry=rng.choice(_INDUSTRIES),
            employees=employees,
            annual_revenue=revenue,
            founded=founded,
            country=country,
            postal_code=_postal_code(rng, country),
            minority_owned=rng.random() < 0.12,
            service_centers=min(40, int(rng.expovariate(1 / (3 if good else 0.8)))),
            good_fit=good,
        )
        acc.traits = {
            "name": acc.name,
            "domain": acc.domain,
            "website": acc.website,
            "industry": acc.industry,
            "employees": acc.employees,
            "annual_revenue": acc.annual_revenue,
            "founded_year": acc.founded,
            "country": acc.country,
            "postal_code": acc.postal_code,
            "minority_owned": acc.minority_owned,
            "service_centers": acc.service_centers,
        }
        return acc

    # -- profiles ----------------------------------------------------------------------------

    def profile(self, i: int) -> _Profile:
        """Contact ``i``'s profile, cached: neighbours look each other up for referrals."""
        cached = self._profiles.get(i)
        if cached is not None:
            return cached
        prof, _ = self.profile_and_rng(i)
        if len(self._profiles) >= _CACHE_LIMIT:
            self._profiles.clear()
        self._profiles[i] = prof
        return prof

    def is_fan(self, i: int) -> bool:
        """Whether contact ``i`` really becomes a fan (the timeline may cut an intended fan)."""
        audience, outcome, _, _ = self.archetype(i)
        return audience == "buyer" and outcome == "fan" and self.profile(i).outcome == "fan"

    def referrer_of(self, j: int) -> int:
        """The fan who referred contact ``j``: the nearest real fan before it, or -1."""
        for k in range(j - 1, max(-1, j - _LINK_WINDOW), -1):
            if self.is_fan(k):
                return k
        return -1

    def referred_by(self, i: int) -> list[int]:
        """Contacts whose referrer is fan ``i`` (the inverse of :meth:`referrer_of`)."""
        out: list[int] = []
        for j in range(i + 1, min(self.n, i + _LINK_WINDOW)):
            if self.is_fan(j):
                break  # later contacts find this nearer fan first
            if self.archetype(j)[3] and self.profile(j).referrer == i:
                out.append(j)
        return out

    def fans_after(self, i: int, limit: int) -> list[int]:
        """Up to ``limit`` real fans just after index ``i`` (an employee's moderation queue)."""
        out: list[int] = []
        for j in range(i + 1, min(self.n, i + 4 * _LINK_WINDOW)):
            if self.is_fan(j):
                out.append(j)
                if len(out) >= limit:
                    break
        return out

    def profile_and_rng(self, i: int) -> tuple[_Profile, Random]:
        """Build contact ``i``'s profile; the returned RNG continues into its events."""
        rng = Random(f"{self.seed}:{i}")
        r = rng.random
        audience, outcome, kind, referred = self.archetype(i)
        start, end = self.start, self.end
        span = end - start
        b2b = kind == "b2b"
        # Arrivals grow over time (audience growth): later dates are likelier.
        first_seen = self.place(rng, start + int(span * r() ** 0.75), b2b)
        if audience == "employee":
            first_seen = self.place(rng, start + int(r() * 60 * _DAY), True)
        if self.is_pair(i):
            first_seen = self.place(rng, start + int(r() * span * 0.3), True)
        # Weekend shifts can push past the end; everyone must arrive inside the world.
        first_seen = min(first_seen, end - 2 * _HOUR)
        p = _Profile(
            index=i,
            uid=f"u_{i:06d}",
            audience=audience,
            kind=kind,
            outcome=outcome,
            anon=_uuid(rng),
            first_seen=first_seen,
        )
        wants_identity = (
            outcome != "visitor" if audience == "buyer" else r() < _IDENTIFY_SHARE[audience]
        )
        if referred and wants_identity:
            ref = self.referrer_of(i)
            if ref >= 0:
                fan_at = self.profile(ref).fan_at
                sent = fan_at + _HOUR + int(rng.expovariate(1 / (20 * _DAY)))
                sent = self.place_after(rng, sent, fan_at + _HOUR, False)
                arrive = sent + 10 * _MIN + int(rng.expovariate(1 / (2 * _DAY)))
                arrive = self.place_after(rng, arrive, sent + 10 * _MIN, b2b)
                if arrive < end - 5 * _DAY:
                    p.referrer, p.referral_sent_at, p.first_seen = ref, sent, arrive
        p.lead_source = self._lead_source(rng, p, b2b)
        # Identification: the step from stranger to prospect.
        if wants_identity:
            if p.lead_source == "Trade Show":
                # Met at the first trade show after their first visit.
                k = bisect_left(self.show_times, p.first_seen)
                show = self.show_times[k] if k < len(self.show_times) else end
                lead_at = show + int(r() * 8 * _HOUR)
            else:
                if p.referrer >= 0:
                    lead_at = p.first_seen + 2 * _MIN + int(r() * _HOUR)  # same visit
                else:
                    delay = int(rng.expovariate(1 / (6 * _DAY)))
                    lead_at = self.place_after(rng, p.first_seen + delay, p.first_seen, b2b)
            if lead_at < end - _HOUR:
                p.identified, p.lead_at = True, lead_at
        if audience == "buyer":
            p.outcome = self._timeline(rng, p, outcome, b2b)
        elif not p.identified:
            p.outcome = "visitor"
        p.stop_at = p.stop_at or end
        self._identity(rng, p, b2b)
        return p, rng

    def _timeline(self, rng: Random, p: _Profile, outcome: str, b2b: bool) -> str:
        """Purchase, churn, dormancy, reactivation and fandom times; the outcome that fits."""
        end = self.end
        if not p.identified:
            return "visitor"
        if outcome not in _CUSTOMER_OUTCOMES:
            return "lead"
        # B2B sales cycles run through meetings and calls; consumers decide in days.
        if b2b:
            cycle = 20 * _DAY + rng.expovariate(1 / (45 * _DAY))
        else:
            cycle = _HOUR + rng.expovariate(1 / (12 * _DAY))
        buy_at = self.place(rng, p.lead_at + int(cycle), b2b)
        if buy_at > end - _HOUR or buy_at <= p.lead_at:
            return "lead"
        p.buy_at = buy_at
        if outcome == "churned":
            stop = buy_at + 45 * _DAY + int(rng.expovariate(1 / (200 * _DAY)))
            if stop >= end:
                return "active"
            p.stop_at = stop
        elif outcome in ("dormant", "reactivated"):
            quiet = buy_at + 20 * _DAY + int(rng.expovariate(1 / (60 * _DAY)))
            if quiet >= end - 60 * _DAY:
                return "active"
            p.stop_at = quiet
            if outcome == "reactivated":
                back = quiet + 120 * _DAY + int(rng.expovariate(1 / (90 * _DAY)))
                if back >= end - _DAY:
                    return "dormant"
                p.back_at = self.place(rng, back, b2b)
        elif outcome == "fan":
            fan_at = self.place(
                rng, buy_at + 10 * _DAY + int(rng.expovariate(1 / (40 * _DAY))), b2b
            )
            if fan_at >= end - _DAY:
                return "active"
            p.fan_at = fan_at
        return outcome

    def _identity(self, rng: Random, p: _Profile, b2b: bool) -> None:
        """Name, e-mail, company or demographics, CRM presence, alias plans."""
        r = rng.random
        i = p.index
        p.country = _COUNTRY_TABLE[int(r() * len(_COUNTRY_TABLE))]
        audience = p.audience
        if audience == "buyer" and b2b:
            if self.is_pair(i):
                pair_no = i // _PAIR_EVERY
                p.account = _mix(self.base ^ (pair_no | 1 << 41)) % self.n_accounts
                p.shared_inbox = True
            else:
                p.account = int(self.n_accounts * r() ** 1.3)
                if p.outcome in _CUSTOMER_OUTCOMES and not self.account_fit(p.account):
                    # Buyers lean towards good-fit companies, so firmographic fit predicts.
                    p.account = int(self.n_accounts * r() ** 1.3)
            p.company, domain, p.country = self.account_head(p.account)
        if not p.identified:
            return  # a stranger's name, e-mail and CRM row are never seen: skip them
        first = _FIRST_NAMES[int(r() * len(_FIRST_NAMES))]
        last = _LAST_NAMES[int(r() * len(_LAST_NAMES))]
        p.first_name, p.last_name = first, last
        fs, ls = _FIRST_SLUGS[first], _LAST_SLUGS[last]
        if audience == "buyer" and b2b:
            p.title = _B2B_TITLES[int(r() * len(_B2B_TITLES))]
            if p.shared_inbox:
                p.email = f"info@{domain}"
            else:
                u = r()
                local = f"{fs}.{ls}" if u < 0.8 else f"{fs[0]}{ls}"
                p.email = f"{local}@{domain}"
        elif audience in ("competitor", "vendor", "employee"):
            titles: tuple[str, ...]
            if audience == "competitor":
                domain = COMPETITOR_DOMAINS[int(r() * len(COMPETITOR_DOMAINS))]
                p.company, titles = _COMPETITORS[domain], _COMPETITOR_TITLES
            elif audience == "vendor":
                domain = VENDOR_DOMAINS[int(r() * len(VENDOR_DOMAINS))]
                p.company, titles = _VENDORS[domain], _VENDOR_TITLES
            else:
                domain, p.company, titles = OWN_DOMAINS[0], COMPANY_NAME, _EMPLOYEE_TITLES
            p.title = titles[int(r() * len(titles))]
            # The index suffix keeps addresses unique inside a big shared domain.
            p.email = f"{fs}.{ls}.{_b36(i)}@{domain}"
        else:
            if audience == "student":
                domain = _ACADEMIC_DOMAINS[int(r() * len(_ACADEMIC_DOMAINS))]
            else:
                domain = _PERSONAL_DOMAINS[int(r() * len(_PERSONAL_DOMAINS))]
            local = f"{fs}.{ls}.{_b36(i)}" if r() < 0.6 else f"{fs}{_b36(i * 7 + 3)}"
            p.email = f"{local}@{domain}"
            p.traits = self._demographics(rng, p)
        p.postal_code = _postal_code(rng, p.country)
        p.phone = _phone(rng, p.country) if r() < 0.7 else ""
        if p.identified and r() < 0.05 and p.stop_at - p.lead_at > 2 * _DAY:
            # An older system's user id, later merged with an alias call.
            p.legacy_id = f"legacy-{rng.getrandbits(40):010x}"
            p.alias_at = p.lead_at + _DAY + int(r() * min(120 * _DAY, p.stop_at - p.lead_at - _DAY))
        if p.identified and r() < 0.85:
            p.in_crm = True
            u = r()
            # CRMs hold hand-typed addresses: some shouted, some padded with spaces.
            if u < 0.02:
                p.crm_email = p.email.upper()
            elif u < 0.035:
                p.crm_email = f"  {p.email} "
            elif u < 0.045:
                p.crm_email = p.email.capitalize() + " "
            else:
                p.crm_email = p.email

    def _demographics(self, rng: Random, p: _Profile) -> dict[str, Any]:
        """B2C fit attributes; buyers lean towards the ideal profile so fit scoring can work."""
        r = rng.random
        buyer = p.outcome in _CUSTOMER_OUTCOMES
        if p.audience == "student":
            age = 18 + int(r() * 9)
            occupation = "student"
            income = 3000 + int(r() * 12) * 1000
        else:
            age = 30 + int(r() * 26) if buyer and r() < 0.75 else 18 + int(r() * 60)
            pool = _SEEKER_OCCUPATIONS if p.audience == "job_seeker" else _OCCUPATIONS
            occupation = pool[int(r() * len(pool))]
            income = int(rng.lognormvariate(log(48_000 if buyer else 30_000), 0.45)) // 500 * 500
        married = _MARITAL[1] if buyer and r() < 0.5 else _MARITAL[int(r() * len(_MARITAL))]
        children = (1 + int(r() * 3)) if buyer and r() < 0.6 else int(r() * r() * 4)
        home = int(rng.lognormvariate(log(120 if buyer else 70), 0.35))
        memberships = [m for m in _MEMBERSHIPS if r() < (0.35 if buyer else 0.08)]
        subscriptions = ["Newsletter"] if r() < 0.6 else []
        # Churn means cancelling the Yarn Club, so every churned consumer had it.
        if p.outcome == "churned" or (p.outcome in ("active", "fan") and r() < 0.5):
            p.yarn_club = True
            subscriptions.append("Loom Yarn Club")
        return {
            "age": age,
            "income": income,
            "occupation": occupation,
            "marital_status": married,
            "children": children,
            "home_size": home,
            "memberships": memberships,
            "subscriptions": subscriptions,
        }

    def _lead_source(self, rng: Random, p: _Profile, b2b: bool) -> str:
        if p.referrer >= 0:
            return "Referral"
        options: tuple[str, ...]
        if p.audience == "job_seeker":
            options = ("Careers Site",)
        elif p.audience in ("competitor", "student"):
            options = ("Content Download", "Webinar", "Organic Search")
        elif p.audience == "employee":
            options = ("Internal",)
        elif p.audience == "vendor":
            options = ("Web Form", "Partner")
        elif b2b:
            options = (
                "Web Form",
                "Web Form",
                "Trade Show",
                "Webinar",
                "Content Download",
                "Paid Search",
                "Organic Search",
            )
        else:
            options = ("Web Form", "Newsletter", "Paid Search", "Organic Search", "Social")
        return options[int(rng.random() * len(options))]

    # -- time placement ----------------------------------------------------------------------

    def place_after(self, rng: Random, t: int, after: int, b2b: bool) -> int:
        """:meth:`place`, but never before ``after`` (then a few minutes after it)."""
        placed = self.place(rng, t, b2b)
        return placed if placed > after else after + 2 * _MIN + int(rng.random() * 20 * _MIN)

    def place(self, rng: Random, t: int, b2b: bool) -> int:
        """Move ``t`` to a realistic moment of its day (and off weekends, mostly, for B2B)."""
        r = rng.random
        day = t // _DAY
        dow = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        if dow >= 5 and r() < (0.85 if b2b else 0.3):
            day += 7 - dow
        hours = _B2B_HOURS if b2b else _B2C_HOURS
        # One draw picks the hour (integer part) and the moment inside it (fraction).
        x = r() * len(hours)
        slot = int(x)
        return day * _DAY + hours[slot] * _HOUR + int((x - slot) * _HOUR)


# --------------------------------------------------------------------------------------------
# Journeys: one contact's events
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Device:
    """One browser or app install: its anonymousId, context and (for apps) clock skew."""

    anon: str
    context: dict[str, Any]
    library: dict[str, str]
    skew: int | None = None  # device clock minus true clock, ms; None: the server stamps time
    since: int | None = None  # from then on the device is logged in and sends userId


_Event = tuple[int, int, "_Device | None", dict[str, Any]]


class _Journey:
    """Generates one contact's events into a list (bounded by that contact alone)."""

    def __init__(self, world: _World, p: _Profile, rng: Random) -> None:
        self.w = world
        self.p = p
        self.rng = rng
        self.r = rng.random
        self.events: list[_Event] = []
        self.start = world.start
        self.end = world.end
        self.b2b = p.kind == "b2b"
        self.web = self._web_device(p.anon, bot=p.audience == "bot")
        self.devices = [self.web]
        self.tickets = 0
        self.orders = 0

    # -- devices -----------------------------------------------------------------------------

    def _web_device(self, anon: str, bot: bool = False) -> _Device:
        r = self.r
        if bot:
            ua = _BOT_UA[int(r() * len(_BOT_UA))]
        elif r() < (0.2 if self.b2b else 0.45):
            ua = _MOBILE_WEB_UA[int(r() * len(_MOBILE_WEB_UA))]
        else:
            ua = _DESKTOP_UA[int(r() * len(_DESKTOP_UA))]
        context = {
            "library": _WEB_LIBRARY,
            "channel": "web",
            "userAgent": ua,
            "ip": _ip(self.rng, datacenter=bot),
            "locale": _LOCALES.get(self.p.country, "en-US"),
        }
        return _Device(anon=anon, context=context, library=_WEB_LIBRARY)

    def _app_device(self) -> _Device:
        r = self.r
        name, version, ua, os_name, os_version = _APPS[int(r() * len(_APPS))]
        library = {"name": name, "version": version}
        context = {
            "library": library,
            "channel": "mobile",
            "userAgent": ua,
            "ip": _ip(self.rng),
            "app": {"name": COMPANY_NAME, "version": ua.split("/")[1].split(" ")[0]},
            "os": {"name": os_name, "version": os_version},
        }
        # Phone clocks drift from minutes to hours; the sign is random.
        skew = int(_MIN * 2 * (150 ** r())) * (1 if r() < 0.5 else -1)
        return _Device(anon=_uuid(self.rng), context=context, library=library, skew=skew)

    # -- emission ----------------------------------------------------------------------------

    def uid_at(self, t: int) -> str | None:
        p = self.p
        if not p.identified or t < p.lead_at:
            return None
        if p.legacy_id and t < p.alias_at:
            return p.legacy_id
        return p.uid

    def emit(self, t: int, dev: _Device | None, msg: dict[str, Any]) -> None:
        """Stamp ids on ``msg`` and queue it; events outside the world's window are dropped."""
        if t < self.start or t > self.end:
            return
        if dev is None:
            uid = self.uid_at(t)
            if uid is None:
                return  # server-side systems only know identified people
            msg["userId"] = uid
            if "context" not in msg:
                msg["context"] = _SERVER_CONTEXT
        else:
            msg["anonymousId"] = dev.anon
            since = dev.since
            if since is not None and t >= since:
                # Devices log in only after the contact identified, so a user id exists.
                p = self.p
                msg["userId"] = p.legacy_id if p.legacy_id and t < p.alias_at else p.uid
            if "context" not in msg:
                msg["context"] = dev.context
        events = self.events
        events.append((t, len(events), dev, msg))

    def track(self, t: int, dev: _Device | None, event: str, props: dict[str, Any]) -> None:
        """A track call from device ``dev`` (None: a server-side system such as billing)."""
        # emit() is inlined: tracks are the second-hottest path after page views.
        if not self.start <= t <= self.end:
            return
        p = self.p
        if dev is None:
            if not p.identified or t < p.lead_at:
                return  # server-side systems only know identified people
            events = self.events
            events.append(
                (
                    t,
                    len(events),
                    None,
                    {
                        "type": "track",
                        "event": event,
                        "properties": props,
                        "userId": p.legacy_id if p.legacy_id and t < p.alias_at else p.uid,
                        "context": _SERVER_CONTEXT,
                    },
                )
            )
        else:
            msg = {
                "type": "track",
                "event": event,
                "properties": props,
                "anonymousId": dev.anon,
                "context": dev.context,
            }
            since = dev.since
            if since is not None and t >= since:
                msg["userId"] = p.legacy_id if p.legacy_id and t < p.alias_at else p.uid
            events = self.events
            events.append((t, len(events), dev, msg))

    def pages(self, t: int, dev: _Device, key: str, n: int, campaign: bool = False) -> int:
        """A browsing session of ``n`` page views; returns the time after the last one."""
        # The hottest path of the generator (half of all events): emit() is inlined here.
        r = self.r
        sections = self.w.interests[key]
        n_sections = len(sections)
        referrer = _EXTERNAL_REFERRERS[int(r() * len(_EXTERNAL_REFERRERS))]
        base, anon, since = dev.context, dev.anon, dev.since
        p = self.p
        events = self.events
        start, end = self.start, self.end
        for k in range(n):
            section = sections[int(r() * n_sections)]
            path, url, title = section[int(r() * len(section))]
            if start <= t <= end:
                page = {"path": path, "url": url, "title": title, "referrer": referrer}
                context = base.copy()
                context["page"] = page
                if k == 0 and campaign:
                    context["campaign"] = _CAMPAIGNS[int(r() * len(_CAMPAIGNS))]
                msg = {
                    "type": "page",
                    "name": title,
                    "properties": page,
                    "context": context,
                    "anonymousId": anon,
                }
                if since is not None and t >= since:
                    msg["userId"] = p.legacy_id if p.legacy_id and t < p.alias_at else p.uid
                events.append((t, len(events), dev, msg))
            referrer = url
            # Reading time: mostly tens of seconds, sometimes a few minutes.
            t += 3 * _SEC + int(r() * r() * 240 * _SEC)
        return t

    def visits(self, a: int, b: int, key: str, mean_gap: float, pages: float, cap: int) -> None:
        """Return visits between ``a`` and ``b`` at ~``mean_gap`` ms apart, on logged-in devices."""
        r = self.r
        t = a + int(self.rng.expovariate(1 / mean_gap))
        n = 0
        while t < b and n < cap:
            at = self.w.place(self.rng, t, self.b2b)
            dev = self.device_at(at)
            self.pages(at, dev, key, 1 + int(r() * pages * 1.6), campaign=r() < 0.1)
            t += int(self.rng.expovariate(1 / mean_gap))
            n += 1

    def device_at(self, t: int) -> _Device:
        """A device this contact uses at ``t`` (other devices only once they exist)."""
        if len(self.devices) == 1:
            return self.web
        candidates = [
            d
            for d in self.devices
            if d is self.web or (d.skew is None and (d.since is None or d.since <= t))
        ]
        return candidates[int(self.r() * len(candidates))]

    def identify(self, t: int, dev: _Device | None, traits: dict[str, Any]) -> None:
        msg: dict[str, Any] = {"type": "identify", "traits": traits}
        if dev is not None and "email" in traits and self.r() < 0.02:
            # Some SDK set-ups send user traits only in context.traits.
            traits = dict(traits)
            email = traits.pop("email")
            msg["traits"] = traits
            msg["context"] = {**dev.context, "traits": {"email": email}}
        self.emit(t, dev, msg)

    def full_traits(self) -> dict[str, Any]:
        p = self.p
        traits: dict[str, Any] = {
            "email": p.email,
            "first_name": p.first_name,
            "last_name": p.last_name,
        }
        if p.phone:
            traits["phone"] = p.phone
        if p.company:
            traits["company"] = p.company
            traits["title"] = p.title
        traits.update(p.traits)
        traits["postal_code"] = p.postal_code
        traits["country"] = p.country
        if _mix(p.index ^ 0x7123) % 10 < 7:
            # Most sign-up forms send the browser's time zone (the policy's quiet hours).
            traits["timezone"] = _TIME_ZONES[p.country]
        return traits

    # -- building blocks -----------------------------------------------------------------------

    def emails(self, a: int, b: int, p_open: float, p_click: float) -> None:
        """Newsletter opens and clicks between ``a`` and ``b``; clicks often start a visit."""
        if p_open <= 0.0:
            return
        r = self.r
        w = self.w
        campaigns = w.campaigns
        skip_log = log(1.0 - p_open) if p_open < 1.0 else 0.0
        k = bisect_left(w.campaign_times, a) - 1
        while True:
            # Jump straight to the next opened newsletter (geometric gap): one draw per open
            # instead of one per newsletter sent.
            k += 1 + (int(log(1.0 - r()) / skip_log) if skip_log else 0)
            if k >= len(campaigns) or campaigns[k][0] > b:
                break
            when, campaign_id, email_id, links = campaigns[k]
            opened = when + int(self.rng.lognormvariate(log(3 * _HOUR), 1.4))
            props = {"campaign_id": campaign_id, "email_id": email_id}
            self.track(opened, None, "Email Opened", props)
            if r() < p_click:
                clicked = opened + 5 * _SEC + int(r() * r() * 600 * _SEC)
                link = links[int(r() * len(links))]
                self.track(clicked, None, "Email Link Clicked", {**props, "link_url": link})
                if r() < 0.6:
                    p = self.p
                    key = f"{p.kind}_customer" if p.bought and clicked >= p.buy_at else p.kind
                    self.pages(clicked + 2 * _SEC, self.device_at(clicked), key, 1 + int(r() * 3))

    def webinars(self, a: int, b: int, share: float, attend: float) -> None:
        r = self.r
        w = self.w
        k = bisect_left(w.webinar_times, a + 3 * _DAY)
        for when, webinar_id, title in w.webinars[k:]:
            if when > b:
                break
            if r() >= share:
                continue
            registered = self.w.place(self.rng, when - 3 * _HOUR - int(r() * 6 * _DAY), self.b2b)
            registered = min(registered, when - 10 * _MIN)
            props = {"webinar_id": webinar_id, "title": title}
            self.track(registered, None, "Webinar Registered", props)
            if r() < attend:
                minutes = 5 + int(r() * 55)
                self.track(
                    when + int(r() * 10 * _MIN),
                    None,
                    "Webinar Attended",
                    {**props, "minutes_attended": minutes},
                )

    def trade_show(self, a: int, b: int) -> bool:
        w = self.w
        k = bisect_left(w.show_times, a)
        if k >= len(w.shows) or w.shows[k][0] > b:
            return False
        when, show = w.shows[k]
        booth = f"B{10 + int(self.r() * 40)}"
        self.track(
            when + int(self.r() * 8 * _HOUR),
            None,
            "Trade Show Badge Scanned",
            {"show": show, "booth": booth},
        )
        return True

    def call(self, t: int, direction: str) -> None:
        r = self.r
        self.track(
            t,
            None,
            "Call Completed",
            {
                "direction": direction,
                "duration_seconds": 30 + int(r() * r() * 1800),
                "agent_id": _AGENTS[int(r() * len(_AGENTS))],
            },
        )

    def meeting(self, t: int, kind: str) -> None:
        minutes = {"discovery": 30, "demo": 45, "qbr": 60}[kind]
        self.track(t, None, "Meeting Held", {"meeting_type": kind, "duration_minutes": minutes})

    def ticket(self, t: int, angry: bool = False) -> None:
        """A support ticket with bot auto-reply, agent replies at realistic delays, closure."""
        r = self.r
        rng = self.rng
        ticket_id = f"tk_{self.p.index}_{self.tickets}"
        self.tickets += 1
        u = r()
        channel = "email" if u < 0.45 else "chat" if u < 0.75 else "social" if u < 0.85 else "phone"
        subject = _TICKET_SUBJECTS[int(r() * len(_TICKET_SUBJECTS))]
        if angry:
            subject = "Considering cancelling: " + subject.lower()
        self.track(
            t,
            None,
            "Ticket Created",
            {"ticket_id": ticket_id, "channel": channel, "subject": subject},
        )
        if channel in ("email", "chat") and r() < 0.6:
            self.track(
                t + 2 * _SEC + int(r() * 18 * _SEC),
                None,
                "Ticket Replied",
                {"ticket_id": ticket_id, "author_role": "bot", "agent_id": "bot_autoresponder"},
            )
        agent = _AGENTS[int(r() * len(_AGENTS))]
        # Agents answer in ~25 minutes (median), social a bit faster, with a tail to days.
        median = 12 * _MIN if channel == "social" else 25 * _MIN
        rounds = 1 + int(r() * r() * 4)
        for k in range(rounds):
            t += int(rng.lognormvariate(log(median), 1.3))
            self.track(
                t,
                None,
                "Ticket Replied",
                {"ticket_id": ticket_id, "author_role": "agent", "agent_id": agent},
            )
            if k + 1 < rounds:
                t += int(rng.lognormvariate(log(2 * _HOUR), 1.2))
                self.track(
                    t, None, "Ticket Replied", {"ticket_id": ticket_id, "author_role": "customer"}
                )
        t += int(rng.lognormvariate(log(_DAY), 1.0))
        self.track(t, None, "Ticket Closed", {"ticket_id": ticket_id})

    def order(
        self, t: int, lines: list[dict[str, Any]], subscription: dict[str, Any] | None = None
    ) -> None:
        """An order; ``subscription`` (id, plan, interval, mrr) when it starts one."""
        revenue = round(sum(line["price"] * line["quantity"] for line in lines), 2)
        order_id = f"ord_{self.p.index}_{self.orders}"
        self.orders += 1
        props = {"order_id": order_id, "revenue": revenue, "currency": "EUR", "products": lines}
        self.track(t, None, "Order Completed", props | (subscription or {}))

    @staticmethod
    def line(product: tuple[str, str, str, str, float], quantity: int) -> dict[str, Any]:
        product_id, sku, name, category, price = product
        return {
            "product_id": product_id,
            "sku": sku,
            "name": name,
            "category": category,
            "price": price,
            "quantity": quantity,
        }

    def renewals(
        self, a: int, b: int, period: int, subscription: dict[str, Any], revenue: float
    ) -> None:
        """Billing runs at night: renewals every ``period`` from ``a`` until ``b``."""
        t = a + period
        props_base = subscription | {"revenue": revenue}
        while t <= b:
            billing = (t // _DAY) * _DAY + 2 * _HOUR + int(self.r() * _HOUR)
            self.track(billing, None, "Subscription Renewed", dict(props_base))
            t += period

    def usage(self, a: int, b: int, mean_gap: float, app: _Device | None, cap: int) -> None:
        """Logged-in product use: sessions of Logged In + features (web app or mobile app)."""
        r = self.r
        rng = self.rng
        b2b = self.b2b
        features = _FEATURES_B2B if b2b else _FEATURES_B2C
        t = a + int(rng.expovariate(1 / mean_gap))
        n = 0
        while t < b and n < cap:
            at = self.w.place(rng, t, b2b)
            if app is not None and app.since is not None and at >= app.since and r() < 0.7:
                self.track(at, app, "Logged In", {})
                for _ in range(1 + int(r() * 3)):
                    at += 5 * _SEC + int(r() * 90 * _SEC)
                    self.emit(
                        at,
                        app,
                        {"type": "screen", "name": _SCREENS[int(r() * 7)], "properties": {}},
                    )
                    if r() < 0.4:
                        self.track(
                            at + 3 * _SEC,
                            app,
                            "Product Used",
                            {"feature": features[int(r() * len(features))]},
                        )
            else:
                dev = self.device_at(at)
                self.track(at, dev, "Logged In", {})
                for _ in range(1 + int(r() * 2)):
                    at += 10 * _SEC + int(r() * r() * 600 * _SEC)
                    self.track(
                        at, dev, "Product Used", {"feature": features[int(r() * len(features))]}
                    )
            t += int(rng.expovariate(1 / mean_gap))
            n += 1

    def add_second_device(self, a: int, b: int) -> None:
        """Log in from another browser somewhere between ``a`` and ``b``."""
        if b - a < _DAY:
            return
        dev = self._web_device(_uuid(self.rng))
        t = self.w.place_after(self.rng, a + int(self.r() * (b - a)), a, self.b2b)
        end_pages = self.pages(t, dev, self.p.kind, 1 + int(self.r() * 2))
        dev.since = end_pages
        self.devices.append(dev)
        self.identify(end_pages, dev, {"email": self.p.email})
        self.track(end_pages + _SEC, dev, "Logged In", {})

    def add_email_only_device(self, a: int, b: int) -> None:
        """Another browser that only ever gives an e-mail (newsletter box): stitch by e-mail."""
        if b - a < _DAY:
            return
        dev = self._web_device(_uuid(self.rng))
        t = self.w.place_after(self.rng, a + int(self.r() * (b - a)), a, self.b2b)
        t = self.pages(t, dev, self.p.kind, 1 + int(self.r() * 3))
        self.emit(t, dev, {"type": "identify", "traits": {"email": self.p.email}})
        self.track(t + _SEC, dev, "Form Submitted", {"form_id": "newsletter"})

    def add_app(self, a: int, b: int) -> _Device | None:
        if b - a < _DAY:
            return None
        app = self._app_device()
        t = self.w.place_after(self.rng, a + int(self.r() * min(b - a, 30 * _DAY)), a, self.b2b)
        app.since = t
        self.devices.append(app)
        self.emit(t, app, {"type": "screen", "name": "Welcome", "properties": {}})
        self.identify(t + 20 * _SEC, app, {"email": self.p.email})
        return app

    # -- journeys ------------------------------------------------------------------------------

    def run(self) -> None:
        audience = self.p.audience
        if audience == "buyer":
            self.buyer()
        elif audience == "bot":
            self.bot()
        else:
            getattr(self, audience)()
        if self.p.legacy_id and self.p.alias_at:
            # Server-side merge of the old id into the new one.
            self.emit(self.p.alias_at, None, {"type": "alias", "previousId": self.p.legacy_id})

    def become_lead(self, t: int) -> None:
        """The identify moment and what triggered it (a form, a sign-up, a badge scan...)."""
        p = self.p
        r = self.r
        web = self.web
        source = p.lead_source
        if source == "Trade Show":
            # Scanned at a booth: the CRM import identifies server-side; the browser logs in later.
            self.identify(t, None, self.full_traits())
            self.track(
                t + _SEC,
                None,
                "Trade Show Badge Scanned",
                {"show": self._show_name(t), "booth": f"B{10 + int(r() * 40)}"},
            )
            later = t + _HOUR + int(self.rng.expovariate(1 / (5 * _DAY)))
            web.since = self.w.place_after(self.rng, later, t + _HOUR, True)
            self.identify(web.since, web, {"email": p.email})
        else:
            web.since = t
            t0 = t - 30 * _SEC - int(r() * 5 * _MIN)
            self.pages(t0, web, p.kind, 1 + int(r() * 2))
            self.identify(t, web, self.full_traits())
            if source == "Referral":
                plan = _B2B_PLAN_ROWS[int(r() * 2)][0] if self.b2b else "Loom Free"
                code = _referral_code(p.referrer)
                self.track(t + 2 * _SEC, web, "Signed Up", {"plan": plan, "referral_code": code})
            elif source == "Content Download":
                self.track(t + _SEC, web, "Form Submitted", {"form_id": "gated-content"})
                self.track(
                    t + 3 * _SEC,
                    web,
                    "Document Downloaded",
                    {"document": "whitepaper" if r() < 0.6 else "ebook"},
                )
            elif source == "Webinar":
                self.track(t + _SEC, web, "Form Submitted", {"form_id": "webinar-registration"})
            elif source == "Careers Site":
                self.track(t + _SEC, web, "Form Submitted", {"form_id": "job-application"})
            elif source == "Newsletter":
                self.track(t + _SEC, web, "Form Submitted", {"form_id": "newsletter"})
            elif source == "Internal":
                self.track(t + _SEC, web, "Logged In", {})
            elif p.audience == "vendor":
                self.track(t + _SEC, web, "Form Submitted", {"form_id": "contact"})
            elif self.b2b and r() < 0.5:
                self.track(t + _SEC, web, "Form Submitted", {"form_id": "demo-request"})
            else:
                plan = _B2B_PLAN_ROWS[int(r() * 3)][0] + " Trial" if self.b2b else "Loom Free"
                self.track(t + 2 * _SEC, web, "Signed Up", {"plan": plan})
        if p.account >= 0:
            acc = self.w.account(p.account)
            self.emit(
                t + 5 * _SEC, None, {"type": "group", "groupId": acc.id, "traits": acc.traits}
            )

    def _show_name(self, t: int) -> str:
        """The trade show running at ``t`` (the last one that started before it)."""
        w = self.w
        k = bisect_left(w.show_times, t + 1) - 1
        return w.shows[max(0, k)][1] if w.shows else _SHOW_NAMES[0]

    def buyer(self) -> None:
        p = self.p
        r = self.r
        b2b = self.b2b
        end = self.end
        kind = p.kind
        web = self.web
        # Reach: anonymous visits before any identification.
        self.pages(p.first_seen, web, kind, 1 + int(r() * 3), campaign=r() < 0.3)
        if not p.identified:
            self.visits(p.first_seen, p.first_seen + 60 * _DAY, kind, 25 * _DAY, 1.0, 3)
            return
        self.visits(p.first_seen, p.lead_at - _HOUR, kind, 4 * _DAY, 1.5, 3)
        self.become_lead(p.lead_at)
        if r() < 0.3:
            self.add_second_device(p.lead_at, p.stop_at)
        if not b2b and r() < 0.08:
            self.add_email_only_device(p.lead_at, p.stop_at)
        # Acquisition: nurturing until a purchase, or until the lead goes cold.
        if p.bought:
            nurture_end = p.buy_at
        else:
            nurture_end = min(end, p.lead_at + int(self.rng.expovariate(1 / (150 * _DAY))))
        self.emails(p.lead_at, nurture_end, 0.2, 0.2)
        if not p.bought:
            # A cold lead still opens the odd newsletter.
            self.emails(nurture_end, end, 0.04, 0.1)
        self.visits(p.lead_at, nurture_end, kind, 60 * _DAY, 1.5, 6)
        self.webinars(p.lead_at, nurture_end, 0.08 if b2b else 0.02, 0.6)
        if r() < 0.3:
            t = self.w.place(self.rng, p.lead_at + int(r() * (nurture_end - p.lead_at)), b2b)
            self.track(
                t,
                self.device_at(t),
                "Document Downloaded",
                {"document": "whitepaper" if r() < 0.6 else "ebook"},
            )
        if b2b:
            self.sales_cycle(p.lead_at, nurture_end, p.bought)
        if not p.bought:
            return
        self.customer()

    def sales_cycle(self, a: int, b: int, closes: bool) -> None:
        """B2B: discovery call, demo meeting, maybe a trade-show chat, before any order."""
        r = self.r
        rng = self.rng
        place = self.w.place
        if not closes and r() < 0.6:
            return
        span = max(b - a, _DAY)
        self.call(place(rng, a + int(span * 0.2 * r()), True), "outbound")
        self.meeting(place(rng, a + int(span * (0.2 + 0.3 * r())), True), "discovery")
        if closes or r() < 0.5:
            self.meeting(place(rng, a + int(span * (0.5 + 0.3 * r())), True), "demo")
        if r() < 0.3:
            self.trade_show(a, b)
        if closes and r() < 0.5:
            self.call(place(rng, b - int(r() * 3 * _DAY), True), "inbound")

    def customer(self) -> None:
        """Conversion onwards: orders, renewals, usage, support, and the exit or the fandom."""
        p = self.p
        r = self.r
        rng = self.rng
        b2b = self.b2b
        end = self.end
        outcome = p.outcome
        buy = p.buy_at
        stop = p.stop_at
        intensity = {"fan": 1.4, "active": 1.0, "churned": 0.6, "dormant": 0.7, "reactivated": 0.9}[
            outcome
        ] * rng.lognormvariate(0, 0.5)
        app: _Device | None = None
        if r() < (0.15 if b2b else 0.35):
            app = self.add_app(buy, stop)
        sub_id = f"sub_{p.index}_0"
        # The purchase itself.
        if b2b:
            acc = self.w.account(p.account)
            plan, product_id, sku, price = acc.plan
            seats = max(1, min(acc.employees, int(rng.lognormvariate(log(8), 0.8))))
            monthly = r() < 0.6
            period = 30 * _DAY if monthly else 365 * _DAY
            revenue = round(price * seats * (1 if monthly else 12), 2)
            subscription = {
                "subscription_id": sub_id,
                "plan": plan,
                "interval": "month" if monthly else "year",
                "mrr": round(price * seats, 2),
            }
            self.order(
                buy, [self.line((product_id, sku, plan, "SaaS", price), seats)], subscription
            )
            # The billing system's first invoice (a payment of the subscription the order began).
            invoice = {"invoice_id": f"inv_{p.index}_0", "amount": revenue, "currency": "EUR"}
            self.track(buy + 2 * _MIN, None, "Invoice Paid", subscription | invoice)
            # Dormant B2B customers keep paying without using the product.
            renew_until = end if outcome in ("dormant", "reactivated") else stop
            self.renewals(buy, renew_until, period, subscription, revenue)
            subscribed = True
            # The up-sell: two in five growing teams move up a plan (an order of the bigger
            # plan, its seats billed from then on).
            step = _B2B_PLAN_ROWS.index(acc.plan)
            grows = _mix(p.index ^ 0x5EA75) % 5 < 2
            if outcome in ("active", "fan") and step < 2 and grows and stop - buy > 60 * _DAY:
                bigger = _B2B_PLAN_ROWS[step + 1]
                at = self.w.place(rng, buy + 30 * _DAY + int(r() * (stop - buy - 60 * _DAY)), True)
                line = self.line((bigger[1], bigger[2], bigger[0], "SaaS", bigger[3]), seats)
                self.order(at, [line])
        else:
            lines = [self.line(_B2C_PRODUCTS[0], 1)]
            subscribed = p.yarn_club
            if subscribed:
                lines.append(self.line(_B2C_PRODUCTS[1], 1))
            taste = _taste(p.index)
            lines.extend(
                self.line(a, 1) for a, w in zip(_ACCESSORIES, taste, strict=True) if r() < w / 4
            )
            plan, revenue = "Loom Yarn Club", _B2C_PRODUCTS[1][4]
            subscription = {"subscription_id": sub_id, "plan": plan, "interval": "month"}
            subscription["mrr"] = revenue
            self.order(buy, lines, subscription if subscribed else None)
            if subscribed:
                # The subscription app confirms the club the order began.
                self.track(buy + _MIN, None, "Subscription Started", dict(subscription))
                self.renewals(buy, stop, 30 * _DAY, subscription, revenue)
        # Retention: use, support, newsletters, repeat purchases. A churner's use fades in the
        # two months before they cancel, and trouble shows in support tickets first.
        if outcome == "churned":
            fade = max(buy, stop - _FADE_DAYS * _DAY)
            self.engaged(buy, fade, intensity, app)
            self.engaged(fade, stop, intensity * 0.25, app)
        else:
            self.engaged(buy, stop, intensity, app)
        if outcome == "churned" and subscribed:
            if r() < 0.75:
                self.ticket(self.w.place(rng, stop - int(r() * 40 * _DAY) - _DAY, b2b))
            if r() < 0.6:
                self.ticket(self.w.place(rng, stop - int(r() * 20 * _DAY) - _DAY, b2b), angry=True)
            self.track(
                stop,
                None,
                "Subscription Cancelled",
                {
                    "subscription_id": sub_id,
                    "plan": plan,
                    "reason": _CANCEL_REASONS[int(r() * len(_CANCEL_REASONS))],
                },
            )
            if r() < 0.2:
                rating = 1 + int(r() * 3)
                self.review(stop + int(r() * 5 * _DAY), rating)
        if outcome in ("dormant", "reactivated"):
            # Quiet: only the odd newsletter open.
            self.emails(stop, p.back_at or end, 0.03, 0.0)
        if outcome == "reactivated":
            back = p.back_at
            self.pages(back - 30 * _SEC, self.web, _kind_key(p), 2 + int(r() * 3), campaign=True)
            self.track(back, self.web, "Logged In", {})
            if b2b:
                acc = self.w.account(p.account)
                plan, product_id, sku, price = acc.plan
                self.order(back + 5 * _MIN, [self.line((product_id, sku, plan, "SaaS", price), 2)])
            else:
                favourite = _favourite(_taste(p.index), r())
                self.order(back + 5 * _MIN, [self.line(favourite, 1)])
            self.engaged(back, end, intensity, app)
        if outcome == "fan":
            self.community()
        elif outcome == "active" and r() < 0.25:
            self.review(buy + int(rng.expovariate(1 / (60 * _DAY))), 3 + int(r() * 3))
        self.mailings_and_points()

    def mailings_and_points(self) -> None:
        """What activation reads: newsletters and promotions sent in the last fortnight,
        unsubscribes (a quarter come back), and loyalty points redeemed. Drawn from their own
        generator, so the rest of a customer's events are the same with or without them."""
        p = self.p
        rng = Random(_mix(p.index ^ 0xAC71))
        w = self.w
        end = self.end
        unsubscribed = None
        if rng.random() < 0.1:
            unsubscribed = p.buy_at + int(rng.random() * (end - p.buy_at))
            props = {"channel": "email", "list": "newsletter"}
            self.track(unsubscribed, None, "Unsubscribed", props)
            if rng.random() < 0.25:
                back = unsubscribed + int(rng.random() * (end - unsubscribed))
                self.track(back, None, "Resubscribed", props)
                unsubscribed = None
        sent = [(when, cid, eid) for when, cid, eid, _ in w.campaigns if when > end - 14 * _DAY]
        if rng.random() < 0.6:
            for cid, days in _PROMOTIONS:
                sent.append((end - days * _DAY + 10 * _HOUR, cid, cid.replace("cmp_", "eml_")))
        for when, cid, eid in sent:
            if unsubscribed is None or when < unsubscribed:
                props = {"campaign_id": cid, "email_id": eid, "purpose": "marketing"}
                self.track(when, None, "Email Sent", props)
        if p.outcome in ("fan", "active") and rng.random() < 0.3:
            points, reward = _REWARDS[int(rng.random() * len(_REWARDS))]
            at = p.buy_at + 60 * _DAY + int(rng.random() * 300 * _DAY)
            if at < min(p.stop_at, end):
                self.track(at, None, "Points Redeemed", {"points": points, "reward": reward})

    def engaged(self, a: int, b: int, intensity: float, app: _Device | None) -> None:
        p = self.p
        r = self.r
        rng = self.rng
        b2b = self.b2b
        if b <= a:
            return
        self.usage(a, b, 75 * _DAY / intensity, app, 200)
        self.visits(a, b, _kind_key(p), 120 * _DAY / intensity, 1.0, 40)
        self.emails(a, b, min(0.6, 0.18 * intensity), 0.3)
        self.webinars(a, b, min(0.5, 0.04 * intensity), 0.7)
        t = a + int(rng.expovariate(intensity / (200 * _DAY)))
        while t < b:
            self.ticket(self.w.place(rng, t, b2b))
            t += int(rng.expovariate(1 / (200 * _DAY)))
        if b2b:
            t = a + int(rng.expovariate(1 / (110 * _DAY)))
            while t < b:
                self.meeting(self.w.place(rng, t, True), "qbr")
                if r() < 0.4:
                    self.call(self.w.place(rng, t - int(r() * 20 * _DAY), True), "outbound")
                t += int(rng.expovariate(1 / (110 * _DAY)))
            if r() < 0.1 * intensity:
                t = self.w.place(rng, a + int(r() * (b - a)), True)
                self.track(t, None, "Office Visit", {"office": _OFFICES[int(r() * 3)]})
        else:
            # Cross-sell: accessories and yarn every few months.
            t = a + int(rng.expovariate(intensity / (120 * _DAY)))
            while t < b:
                at = self.w.place(rng, t, False)
                at = self.pages(at, self.device_at(at), "b2c_customer", 2 + int(r() * 3))
                taste = _taste(p.index)
                picks = [
                    self.line(x, 1 + int(r() * 2))
                    for x, w in zip(_ACCESSORIES, taste, strict=True)
                    if r() < w
                ]
                self.order(at, picks or [self.line(_favourite(taste, r()), 1)])
                t += int(rng.expovariate(intensity / (120 * _DAY)))

    def review(self, t: int, rating: int) -> None:
        """A product review (only after the purchase, at a realistic hour)."""
        p = self.p
        t = self.w.place_after(self.rng, t, p.buy_at, self.b2b)
        if self.b2b and p.account >= 0:
            product_id = self.w.account(p.account).plan[1]
        else:
            product_id = "home-kit"
        self.track(
            t,
            self.device_at(t),
            "Review Submitted",
            {"rating": rating, "product_id": product_id, "text": _REVIEW_TEXT[rating]},
        )

    def community(self) -> None:
        """Fans: posts, comments, likes, shares, reviews 4-5, referrals, reports."""
        p = self.p
        r = self.r
        rng = self.rng
        w = self.w
        end = self.end
        fan_at = p.fan_at
        channels = ("forum", "twitter", "linkedin")
        other = w.referrer_of(p.index)  # the previous fan: whose post this fan reacts to
        other_post = f"pst_{other}_0" if other >= 0 else ""
        # The previous fan may join the community later than this one: react only after that.
        other_since = w.profile(other).fan_at if other >= 0 else end + 1
        dev = self.device_at(fan_at)
        # Post 0 is always at fan_at: other contacts (moderators, reporters) refer to it.
        self.track(
            fan_at,
            dev,
            "Post Created",
            {"post_id": f"pst_{p.index}_0", "kind": "post", "parent_id": None, "channel": "forum"},
        )
        posts = [f"pst_{p.index}_0"]
        posted_at = [fan_at]
        t = fan_at + int(rng.expovariate(1 / (40 * _DAY)))
        while t < end and len(posts) < 200:
            at = w.place(rng, t, self.b2b)
            dev = self.device_at(at)
            post_id = f"pst_{p.index}_{len(posts)}"
            props: dict[str, Any]
            if r() < 0.5:
                parent = (
                    other_post if at >= other_since and r() < 0.5 else posts[int(r() * len(posts))]
                )
                props = {
                    "post_id": post_id,
                    "kind": "comment",
                    "parent_id": parent,
                    "channel": "forum",
                }
            else:
                props = {
                    "post_id": post_id,
                    "kind": "post",
                    "parent_id": None,
                    "channel": channels[int(r() * 3)],
                }
            self.track(at, dev, "Post Created", props)
            posts.append(post_id)
            posted_at.append(max(at, posted_at[-1]))
            t += int(rng.expovariate(1 / (40 * _DAY)))
        # Likes and shares, several times more frequent than posts (the post:share:like ratio).
        t = fan_at + int(rng.expovariate(1 / (20 * _DAY)))
        n = 0
        while t < end and n < 600:
            at = w.place(rng, t, self.b2b)
            # Only posts that exist by then: the previous fan's first post, or this fan's own.
            existing = max(1, bisect_left(posted_at, at))
            target = other_post if at >= other_since and r() < 0.6 else posts[int(r() * existing)]
            event = "Post Liked" if r() < 0.8 else "Post Shared"
            self.track(at, self.device_at(at), event, {"post_id": target})
            t += int(rng.expovariate(1 / (20 * _DAY)))
            n += 1
        if other >= 0 and r() < 0.15:
            seen = max(fan_at, other_since) + int(rng.expovariate(1 / (3 * _DAY)))
            self.track(
                seen,
                self.device_at(seen),
                "Content Reported",
                {"post_id": other_post, "reason": _REPORT_REASONS[int(r() * 4)]},
            )
        self.review(fan_at + int(r() * 30 * _DAY), 5 if r() < 0.7 else 4)
        code = _referral_code(p.index)
        for j in w.referred_by(p.index):
            friend = w.profile(j)
            self.track(
                friend.referral_sent_at,
                self.device_at(friend.referral_sent_at),
                "Referral Sent",
                {"referral_code": code, "referred_email": friend.email},
            )
        for k in range(int(r() * 3)):
            # Friends outside the world: invited, never came.
            t = w.place_after(rng, fan_at + int(r() * (end - fan_at)), fan_at, self.b2b)
            self.track(
                t,
                self.device_at(t),
                "Referral Sent",
                {
                    "referral_code": code,
                    "referred_email": f"friend{k}.{_b36(p.index)}@correo.example",
                },
            )

    # -- non-buyers ------------------------------------------------------------------------------

    def _non_buyer_start(self, key: str) -> None:
        p = self.p
        self.pages(p.first_seen, self.web, key, 2 + int(self.r() * 4))
        if p.identified:
            self.become_lead(p.lead_at)

    def competitor(self) -> None:
        """Heavy on pricing, product, docs, downloads and webinars; never buys."""
        p = self.p
        r = self.r
        self._non_buyer_start("competitor")
        until = self.end
        self.visits(p.first_seen, until, "competitor", 60 * _DAY, 2.0, 20)
        if not p.identified:
            return
        self.webinars(p.lead_at, until, 0.15, 0.85)
        self.emails(p.lead_at, until, 0.4, 0.3)
        t = p.lead_at + int(self.rng.expovariate(1 / (60 * _DAY)))
        while t < until:
            at = self.w.place(self.rng, t, True)
            self.track(
                at,
                self.device_at(at),
                "Document Downloaded",
                {"document": "whitepaper" if r() < 0.5 else "ebook"},
            )
            t += int(self.rng.expovariate(1 / (60 * _DAY)))
        if r() < 0.3:
            t = self.w.place(self.rng, p.lead_at + int(r() * 30 * _DAY), True)
            self.track(t, self.web, "Signed Up", {"plan": "Loom Business Trial"})
            self.usage(t, t + 14 * _DAY, 2 * _DAY, None, 7)

    def student(self) -> None:
        """Blog and docs for coursework, whitepaper downloads, a semester then gone."""
        p = self.p
        r = self.r
        self._non_buyer_start("student")
        semester = p.first_seen + 120 * _DAY
        self.visits(p.first_seen, semester, "student", 20 * _DAY, 2.0, 6)
        if not p.identified:
            return
        t = p.lead_at
        for _ in range(1 + int(r() * 4)):
            t += int(self.rng.expovariate(1 / (15 * _DAY)))
            at = self.w.place(self.rng, t, False)
            self.track(at, self.device_at(at), "Document Downloaded", {"document": "whitepaper"})
        self.emails(p.lead_at, semester, 0.2, 0.1)

    def job_seeker(self) -> None:
        """Careers pages and job applications."""
        p = self.p
        r = self.r
        self._non_buyer_start("job_seeker")
        self.visits(p.first_seen, p.first_seen + 60 * _DAY, "job_seeker", 12 * _DAY, 2.0, 5)
        if not p.identified:
            return
        t = p.lead_at + 5 * _SEC
        for k in range(1 + int(r() * r() * 3)):
            job_id = _JOBS[int(r() * len(_JOBS))][0]
            if k:
                t = self.w.place_after(self.rng, t + 3 * _DAY, t, False)
            self.track(
                t,
                self.web,
                "Job Application Submitted",
                {"job_id": job_id},
            )
        self.emails(p.lead_at, p.lead_at + 90 * _DAY, 0.3, 0.1)

    def employee(self) -> None:
        """Dogfooding the product, reading docs and community, moderating fans' posts."""
        p = self.p
        r = self.r
        rng = self.rng
        self._non_buyer_start("employee")
        self.visits(p.first_seen, self.end, "employee", 60 * _DAY, 2.0, 30)
        self.usage(p.lead_at, self.end, 45 * _DAY, None, 40)
        for j in self.w.fans_after(p.index, 1 + int(r() * 6)):
            posted = self.w.profile(j).fan_at
            due = posted + int(rng.lognormvariate(log(4 * _HOUR), 1.0))
            t = self.w.place_after(rng, due, posted + 5 * _MIN, True)
            action = "approved" if r() < 0.7 else ("hidden" if r() < 0.67 else "removed")
            self.track(t, None, "Moderation Action", {"post_id": f"pst_{j}_0", "action": action})

    def vendor(self) -> None:
        """Suppliers: partner and contact pages, office visits and meetings, no purchases."""
        p = self.p
        r = self.r
        self._non_buyer_start("vendor")
        self.visits(p.first_seen, self.end, "vendor", 70 * _DAY, 1.5, 12)
        if not p.identified:
            return
        self.emails(p.lead_at, self.end, 0.15, 0.05)
        t = p.lead_at + int(self.rng.expovariate(1 / (90 * _DAY)))
        while t < self.end:
            at = self.w.place(self.rng, t, True)
            if r() < 0.5:
                self.track(at, None, "Office Visit", {"office": _OFFICES[int(r() * 3)]})
            else:
                self.meeting(at, "discovery")
            t += int(self.rng.expovariate(1 / (90 * _DAY)))

    def bot(self) -> None:
        """Crawlers (bursts of page views seconds apart) or link scanners (click all links)."""
        p = self.p
        r = self.r
        rng = self.rng
        web = self.web
        if r() < 0.7:
            t = p.first_seen
            for _ in range(1 + int(r() * 3)):
                n = 10 + int(r() * 30)
                for _k in range(n):
                    sections = self.w.interests["bot"]
                    section = sections[int(r() * len(sections))]
                    path, url, title = section[int(r() * len(section))]
                    page = {"path": path, "url": url, "title": title, "referrer": ""}
                    context = {**web.context, "page": page}
                    self.emit(
                        t,
                        web,
                        {"type": "page", "name": title, "properties": page, "context": context},
                    )
                    t += 100 + int(r() * 900)
                t += int(rng.expovariate(1 / (20 * _DAY)))
        else:
            w = self.w
            # The newsletters after the bot shows up (or the last one, near the world's end).
            k = min(bisect_left(w.campaign_times, p.first_seen), len(w.campaigns) - 1)
            for when, campaign_id, email_id, links in w.campaigns[k : k + 1 + int(r() * 6)]:
                opened = when + 5 * _SEC + int(r() * 55 * _SEC)
                props = {"campaign_id": campaign_id, "email_id": email_id}
                self.track(opened, web, "Email Opened", props)
                # Security scanners follow every link within a couple of seconds of "opening".
                t = opened
                for link in links:
                    t += 100 + int(r() * 400)
                    self.track(t, web, "Email Link Clicked", {**props, "link_url": link})


def _kind_key(p: _Profile) -> str:
    """Interest key for a contact's visits: customers browse the app, docs and shop."""
    return f"{p.kind}_customer" if p.bought else p.kind


def _referral_code(index: int) -> str:
    return f"LOOM-{_b36(index * 7919 + 1000).upper()}"


# --------------------------------------------------------------------------------------------
# Serialisation: sorted lines, batch envelopes, clock-skewed mobile messages, bad records
# --------------------------------------------------------------------------------------------

_BATCH_SHARE = 0.02


class _Writer:
    """Turns a contact's events into JSON lines; owns the per-run counters."""

    def __init__(self, world: _World, bad_records: bool) -> None:
        self.w = world
        self.iso = world.iso
        self.bad_records = bad_records
        self.events = 0
        self.bad = 0
        # str(n) for small n, looked up rather than formatted once per message.
        self.numbers = [str(n) for n in range(4096)]

    def lines(self, p: _Profile, rng: Random, events: list[_Event]) -> list[bytes]:
        # (time, sequence) is unique, so tuple order never compares devices or messages.
        events.sort()
        iso = self.iso
        r = rng.random
        dumps = orjson.dumps
        prefix = f"m-{self.w.seed}-{p.index}-"
        numbers = self.numbers
        n = len(events)
        batch_lo = batch_hi = -1
        if n >= 3 and r() < _BATCH_SHARE:
            # A run of one device's consecutive messages, sent as one batch envelope.
            batch_lo = int(r() * (n - 1))
            dev = events[batch_lo][2]
            if dev is None or dev.skew is None:
                limit = min(n, batch_lo + 2 + int(r() * 19))
                batch_hi = batch_lo + 1
                while batch_hi < limit and events[batch_hi][2] is dev:
                    batch_hi += 1
                if batch_hi - batch_lo < 2:
                    batch_lo = batch_hi = -1
            else:
                batch_lo = -1
        out: list[bytes] = []
        append = out.append
        # Broken lines follow a geometric gap: the same as a coin per line, one draw per record.
        next_bad = self._bad_gap(r) if self.bad_records else n
        batch: list[dict[str, Any]] = []
        for idx, (t, _, dev, msg) in enumerate(events):
            msg["messageId"] = prefix + (numbers[idx] if idx < 4096 else str(idx))
            if dev is not None and dev.skew is not None:
                # The device stamps its own (wrong) clock; the server stamps receipt. Segment
                # recovers the true time as receivedAt - (sentAt - originalTimestamp).
                device_t = t + dev.skew
                delay = 300 + int(r() * 20 * _SEC) if r() < 0.9 else int(r() * 3 * _HOUR)
                msg["originalTimestamp"] = iso(device_t)
                msg["sentAt"] = iso(device_t + delay)
                msg["receivedAt"] = iso(t + delay)
            else:
                msg["timestamp"] = iso(t)
            if batch_lo <= idx < batch_hi:
                batch.append(msg)
                if idx == batch_hi - 1:
                    append(self._batch(batch, dev, t))
                continue
            line = dumps(msg)
            append(line)
            if idx == next_bad:
                self.bad += 1
                append(
                    _broken_line(int(r() * len(BAD_RECORD_KINDS)), msg, line, f"{prefix}bad{idx}")
                )
                next_bad += 1 + self._bad_gap(r)
        self.events += n
        return out

    @staticmethod
    def _bad_gap(r: Callable[[], float]) -> int:
        """Lines to the next broken one: geometric with mean 1 / BAD_RECORD_RATE."""
        return int(log(1.0 - r()) / log(1.0 - BAD_RECORD_RATE))

    def _batch(self, items: list[dict[str, Any]], dev: _Device | None, last: int) -> bytes:
        library = dev.library if dev is not None else _SHOP_LIBRARY
        sent = self.iso(last + 500 + (last % 4000))
        for item in items:
            # Items carry no library of their own: the envelope's context has it. receivedAt
            # equals the envelope's sentAt so that skew correction leaves timestamps unchanged.
            item["context"] = {k: v for k, v in item["context"].items() if k != "library"}
            item["receivedAt"] = sent
        return orjson.dumps({"batch": items, "context": {"library": library}, "sentAt": sent})


BAD_RECORD_KINDS: tuple[str, ...] = (
    "truncated_json",
    "track_without_event",
    "no_ids",
    "undefined_user_id",
    "unparseable_timestamp",
    "properties_not_object",
    "oversized",
)


def _broken_line(kind: int, msg: dict[str, Any], line: bytes, message_id: str) -> bytes:
    """A deliberately broken line of kind ``BAD_RECORD_KINDS[kind]``, derived from ``msg``.

    It gets its own messageId, so a pipeline that wrongly accepts it cannot shadow the real one.
    """
    broken = dict(msg)
    broken["messageId"] = message_id
    name = BAD_RECORD_KINDS[kind]
    if name == "truncated_json":
        return line[: max(8, len(line) // 2)]
    if name == "track_without_event":
        broken["type"] = "track"
        broken.pop("event", None)
    elif name == "no_ids":
        broken.pop("userId", None)
        broken.pop("anonymousId", None)
    elif name == "undefined_user_id":
        broken.pop("anonymousId", None)
        broken["userId"] = "undefined"
    elif name == "unparseable_timestamp":
        for key in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
            broken.pop(key, None)
        broken["timestamp"] = "yesterday"
    elif name == "properties_not_object":
        broken["properties"] = "plan=business&seats=12"
    else:
        phrase = "Customer pasted the whole conversation into the notes field. "
        notes = phrase * (_MAX_EVENT_BYTES // len(phrase) + 16)
        broken["properties"] = {**(msg.get("properties") or {}), "notes": notes}
    return orjson.dumps(broken)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _shard_range(spec: DemoSpec, shard: int) -> range:
    lo = spec.contacts * shard // spec.shards
    hi = spec.contacts * (shard + 1) // spec.shards
    return range(lo, hi)


def _events_path(out_dir: Path, spec: DemoSpec, shard: int) -> Path:
    suffix = ".jsonl.gz" if spec.gzip else ".jsonl"
    return out_dir / "events" / f"events-{shard:03d}{suffix}"


class _ByteSink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def close(self) -> None: ...


def _open_events(tmp: Path, compress: bool) -> tuple[_ByteSink, _ByteSink]:
    """(stream to write, raw file to close). gzip gets mtime=0 and no name: byte-identical."""
    raw = open(tmp, "wb", buffering=1 << 20)  # noqa: SIM115 - the caller closes it
    if not compress:
        return raw, raw
    # Level 3 keeps compression from dominating the run time while still shrinking ~8x.
    zipped = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=3, mtime=0)
    return zipped, raw


def generate_shard(
    out_dir: Path,
    spec: DemoSpec,
    shard: int,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write one shard's event file; shard 0 also writes the CRM, truth and README files.

    Shards are independent, so callers may run them in parallel processes. ``progress(n)`` is
    called with the number of events just written, about every 10,000.
    """
    if not 0 <= shard < spec.shards:
        raise ValueError(f"shard must be in [0, {spec.shards}), got {shard}")
    out_dir = Path(out_dir)
    (out_dir / "events").mkdir(parents=True, exist_ok=True)
    world = _World(spec)
    writer = _Writer(world, spec.bad_records)
    path = _events_path(out_dir, spec, shard)
    tmp = path.with_name(path.name + ".tmp")
    contacts = _shard_range(spec, shard)
    reported = 0
    files = [path]
    with ExitStack() as stack:
        # Shard 0 writes the CRM and truth rows from the profiles it builds anyway, so a
        # one-shard run needs no second pass over the contacts.
        add_row = stack.enter_context(_reference_rows(out_dir, files)) if shard == 0 else None
        stream, raw = _open_events(tmp, spec.gzip)
        try:
            for i in contacts:
                p, rng = world.profile_and_rng(i)
                if add_row is not None:
                    add_row(p)
                journey = _Journey(world, p, rng)
                journey.run()
                lines = writer.lines(p, rng, journey.events)
                if lines:
                    stream.write(b"\n".join(lines))
                    stream.write(b"\n")
                if progress is not None and writer.events - reported >= _PROGRESS_STEP:
                    progress(writer.events - reported)
                    reported = writer.events
        finally:
            if stream is not raw:
                stream.close()
            raw.close()
        os.replace(tmp, path)
        if progress is not None and writer.events > reported:
            progress(writer.events - reported)
        if add_row is not None:
            for i in range(contacts.stop, spec.contacts):
                add_row(world.profile_and_rng(i)[0])
    accounts = 0
    if shard == 0:
        accounts = world.n_accounts
        files.extend(_write_accounts_and_readme(out_dir, world))
    return DemoSummary(
        contacts=len(contacts),
        accounts=accounts,
        events=writer.events,
        bad_records=writer.bad,
        files=files,
    )


def write_reference_files(out_dir: Path, spec: DemoSpec) -> tuple[int, list[Path]]:
    """Write ``crm/contacts.csv``, ``truth.csv``, ``crm/accounts.csv`` and ``README.txt`` only.

    Built from profiles alone (no events), so any process can write them without the events;
    :func:`generate_shard` writes the same bytes for shard 0. Returns the number of accounts
    and the files written.
    """
    out_dir = Path(out_dir)
    world = _World(spec)
    files: list[Path] = []
    with _reference_rows(out_dir, files) as add_row:
        for i in range(spec.contacts):
            add_row(world.profile_and_rng(i)[0])
    files.extend(_write_accounts_and_readme(out_dir, world))
    return world.n_accounts, files


@contextmanager
def _reference_rows(out_dir: Path, files: list[Path]) -> Iterator[Callable[[_Profile], None]]:
    """Stream ``crm/contacts.csv`` and ``truth.csv``: one call per contact, in index order."""
    crm = out_dir / "crm"
    crm.mkdir(parents=True, exist_ok=True)
    contacts_path = crm / "contacts.csv"
    truth_path = out_dir / "truth.csv"
    with _atomic_text(contacts_path) as cfh, _atomic_text(truth_path) as tfh:
        contacts_out = csv.writer(cfh, lineterminator="\n")
        truth_out = csv.writer(tfh, lineterminator="\n")
        contacts_out.writerow(CONTACTS_HEADER)
        truth_out.writerow(TRUTH_HEADER)

        def add_row(p: _Profile) -> None:
            account_id = f"acc_{p.account:05d}" if p.account >= 0 else ""
            truth_out.writerow(
                (
                    p.key,
                    p.kind,
                    p.audience,
                    account_id,
                    "true" if p.bought else "false",
                    p.email if p.identified else "",
                )
            )
            if p.in_crm:
                created = (_EPOCH + timedelta(milliseconds=p.lead_at)).date().isoformat()
                contacts_out.writerow(
                    (
                        p.uid,
                        p.crm_email,
                        p.first_name,
                        p.last_name,
                        p.company,
                        p.title,
                        p.phone,
                        p.country,
                        p.postal_code,
                        created,
                        p.lead_source,
                        account_id,
                    )
                )

        yield add_row
    files.extend([contacts_path, truth_path])


def _write_accounts_and_readme(out_dir: Path, world: _World) -> list[Path]:
    spec = world.spec
    accounts_path = out_dir / "crm" / "accounts.csv"
    with _atomic_text(accounts_path) as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(ACCOUNTS_HEADER)
        for j in range(world.n_accounts):
            a = world.account_uncached(j)
            out.writerow(
                (
                    a.id,
                    a.name,
                    a.website,
                    a.industry,
                    a.employees,
                    a.annual_revenue,
                    a.founded,
                    a.country,
                    a.postal_code,
                    "true" if a.minority_owned else "false",
                    a.service_centers,
                )
            )
    readme = out_dir / "README.txt"
    readme.write_text(
        f"{COMPANY_NAME} demo world: a fictional maker of looms (B2B SaaS plans and B2C kits) "
        "with its contacts' Segment events, CRM exports and ground truth.\n"
        f"spec: contacts={spec.contacts} seed={spec.seed} start={spec.start.isoformat()} "
        f"end={spec.end.isoformat()} shards={spec.shards} gzip={spec.gzip} "
        f"bad_records={spec.bad_records}\n",
        encoding="utf-8",
    )
    return [accounts_path, readme]


@contextmanager
def _atomic_text(path: Path) -> Iterator[IO[str]]:
    """Write a text file under a temporary name and rename it into place on success."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            yield fh
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _shard_in_process(
    out_dir: Path, spec: DemoSpec, shard: int, queue: Any
) -> DemoSummary:  # pragma: no cover - runs in worker processes
    progress = queue.put if queue is not None else None
    return generate_shard(out_dir, spec, shard, progress)


def generate(
    out_dir: Path,
    spec: DemoSpec,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> DemoSummary:
    """Generate the whole world into ``out_dir``: every shard's events plus the CRM files.

    With ``workers > 1`` shards run in parallel processes; the output is identical either way.
    ``progress(n)`` receives the number of events just written, about every 10,000.
    """
    out_dir = Path(out_dir)
    summaries: list[DemoSummary] = []
    if workers <= 1 or spec.shards == 1:
        summaries = [generate_shard(out_dir, spec, k, progress) for k in range(spec.shards)]
    else:
        with ExitStack() as stack:
            queue: Any = None
            if progress is not None:
                # Workers report progress through a managed queue; this process forwards it.
                queue = stack.enter_context(multiprocessing.Manager()).Queue()
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=min(workers, spec.shards)))
            futures: list[Future[DemoSummary]] = [
                pool.submit(_shard_in_process, out_dir, spec, k, queue) for k in range(spec.shards)
            ]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(queue, progress)
            summaries = [f.result() for f in futures]
            _drain(queue, progress)
    files = [f for s in summaries for f in s.files]
    return DemoSummary(
        contacts=sum(s.contacts for s in summaries),
        accounts=sum(s.accounts for s in summaries),
        events=sum(s.events for s in summaries),
        bad_records=sum(s.bad_records for s in summaries),
        files=files,
    )


def _drain(queue: Any, progress: Callable[[int], None] | None) -> None:
    """Forward the event counts workers have queued to ``progress``."""
    if queue is None or progress is None:
        return
    while not queue.empty():
        progress(queue.get())


def write_demo_settings(path: Path) -> None:
    """Put Northwind Loom's own, competitor, supplier and school domains into the demo
    workspace's ``clientela.toml`` (written by ``init``), so its non-buyers can be recognised."""

    def toml_list(items: tuple[str, ...] | list[str]) -> str:
        return "[" + ", ".join(orjson.dumps(i).decode() for i in items) + "]"

    text = path.read_text(encoding="utf-8")
    academic = [
        ".edu",
        ".ac.uk",
        ".edu.es",
        *(s for s in ACADEMIC_SUFFIXES if not s.startswith(".")),
    ]
    for key, value in (
        ("own_domains", OWN_DOMAINS),
        ("competitor_domains", COMPETITOR_DOMAINS),
        ("competitor_names", list(_COMPETITORS.values())),
        ("vendor_domains", VENDOR_DOMAINS),
    ):
        text = text.replace(f"{key} = []", f"{key} = {toml_list(value)}", 1)
    start = text.index("academic_domains = [")
    end = text.index("\n", start)
    text = text[:start] + f"academic_domains = {toml_list(academic)}" + text[end:]
    path.write_text(text.rstrip("\n") + "\n" + DEMO_ACTIVATION, encoding="utf-8")


DEMO_ACTIVATION = """
# Segments (docs/segments.md): evaluated with every run, members and membership history.
[segments.repeat_buyers]
description = "Ordered at least twice in the last 90 days"
all = [{ did = "Order Completed", at_least = 2, within_days = 90 }]

[segments.pricing_not_bought]
description = "Visited /pricing in the last 7 days and did not buy"
all = [
  { did = "page", path = "/pricing", within_days = 7 },
  { did_not = "Order Completed", within_days = 7 },
]

[segments.sales_ready]
description = "Prospects the sales team should call"
all = [{ field = "sales_ready", equals = true }]

[segments.at_risk]
description = "Customers likely to churn, or gone quiet"
any = [{ field = "churn_risk", gte = 0.5 }, { field = "stage", equals = "dormant" }]

[segments.loyal_gold]
description = "Gold members of the loyalty club"
all = [{ field = "loyalty_tier", equals = "Gold" }]

# Destinations (docs/destinations.md): the day's planned actions and segment changes, as
# CSV files under deliveries/exports/ (clientela deliver).
[destinations.exports]
kind = "file"
format = "csv"
"""
"""What ``clientela demo`` adds to the demo workspace's ``clientela.toml``: a few segments
and a file destination."""
