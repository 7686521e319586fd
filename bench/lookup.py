"""Caller-ID lookup benchmark: ``identify_by_phone`` against a raw indexed lookup.

Builds (or reuses) a PostgreSQL database of 1,000,000 customers with 1.5 phone numbers
each on average, migrated to head with ``hub.migrate.upgrade`` so that the real schema and
indexes are measured, then times, in one run and on the same numbers:

* ``ours``: ``crm_core.services.identify.identify_by_phone`` through a SQLAlchemy Session
  made by the app's engine (``hub.db.make_engine``), the caller ID in a mixed format;
* ``floor``: the already-normalised number looked up with raw psycopg
  (``SELECT customer_id FROM contact_points WHERE kind='phone' AND value=%s``);
* ``normalize``: ``normalize_phone`` alone (the phonenumbers share of ``ours``).

Prints one JSON line and exits 1 when the goal (our p99 < 2 ms and <= 5x the floor's p99)
is missed, 2 when a lookup returned a wrong answer or a plan skipped the (kind, value)
index. Usage::

    .venv/bin/python bench/lookup.py [--url postgresql://postgres@127.0.0.1:5432/switchboard_bench]
        [--customers 1000000] [--phones-per-customer 1.5] [--lookups 10000] [--rebuild]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import phonenumbers  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from crm_core.services.identify import identify_by_phone  # noqa: E402
from crm_core.services.phones import normalize_phone  # noqa: E402
from hub.db import make_engine  # noqa: E402
from hub.migrate import alembic_config, upgrade  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/switchboard_bench"
# Bump when the generated data changes shape, so that an old build is not reused.
GENERATOR_VERSION = 1
GOAL_P99_MS = 2.0
GOAL_RATIO = 5.0
KIND_VALUE_INDEX = "ix_contact_points_kind_value"
FLOOR_SQL = "SELECT customer_id FROM contact_points WHERE kind = 'phone' AND value = %s"

# --------------------------------------------------------------------------------------
# Data generation
# --------------------------------------------------------------------------------------

PL_FIRST_F = [
    "Anna", "Maria", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Krystyna",
    "Magdalena", "Elżbieta", "Joanna", "Zofia", "Aleksandra", "Monika", "Natalia", "Julia",
    "Zuzanna", "Alicja", "Dorota", "Beata", "Justyna", "Karolina", "Iwona", "Grażyna",
]  # fmt: skip
PL_FIRST_M = [
    "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Jan", "Michał", "Marcin", "Jakub",
    "Adam", "Łukasz", "Grzegorz", "Mateusz", "Wojciech", "Mariusz", "Dariusz", "Zbigniew",
    "Szymon", "Kacper", "Maciej", "Rafał", "Jerzy", "Antoni", "Stanisław",
]  # fmt: skip
# (masculine, feminine) surname pairs: Polish surnames agree with the first name.
PL_LAST = [
    ("Nowak", "Nowak"), ("Kowalski", "Kowalska"), ("Wiśniewski", "Wiśniewska"),
    ("Wójcik", "Wójcik"), ("Kowalczyk", "Kowalczyk"), ("Kamiński", "Kamińska"),
    ("Lewandowski", "Lewandowska"), ("Zieliński", "Zielińska"), ("Szymański", "Szymańska"),
    ("Woźniak", "Woźniak"), ("Dąbrowski", "Dąbrowska"), ("Kozłowski", "Kozłowska"),
    ("Jankowski", "Jankowska"), ("Mazur", "Mazur"), ("Kwiatkowski", "Kwiatkowska"),
    ("Krawczyk", "Krawczyk"), ("Piotrowski", "Piotrowska"), ("Grabowski", "Grabowska"),
    ("Nowakowski", "Nowakowska"), ("Pawłowski", "Pawłowska"), ("Michalski", "Michalska"),
    ("Król", "Król"), ("Wieczorek", "Wieczorek"), ("Jabłoński", "Jabłońska"),
    ("Wróbel", "Wróbel"), ("Majewski", "Majewska"), ("Olszewski", "Olszewska"),
    ("Stępień", "Stępień"), ("Malinowski", "Malinowska"), ("Jaworski", "Jaworska"),
]  # fmt: skip
GB_FIRST = [
    "Oliver", "George", "Harry", "Jack", "Charlie", "Thomas", "James", "William", "Noah",
    "Oscar", "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Lily", "Freya",
    "Charlotte", "Eleanor", "Margaret", "Siobhan", "Rhys", "Callum", "Eilidh", "Niamh",
]  # fmt: skip
GB_LAST = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "O'Brien", "MacDonald", "Hughes", "Edwards", "Patel", "Khan",
    "Lewis", "Morgan", "Murphy", "Campbell",
]  # fmt: skip
US_FIRST = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Daniel",
    "Sarah", "Christopher", "Karen", "Jose", "Maria", "Tyler", "Ashley", "Kevin", "Nicole",
]  # fmt: skip
US_LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "Nguyen", "Kim",
]  # fmt: skip
ORG_WORDS = {
    "PL": (["Polbud", "Agromex", "Transbet", "Elektro-Serwis", "Mleczarnia Kasia", "Drewpol",
            "Kamex", "Bud-Mar", "Instal-Tech", "Piekarnia Złoty Kłos"],
           ["sp. z o.o.", "S.A.", "s.c.", "sp.j."]),
    "GB": (["Thames", "Pennine", "Albion", "Harbour", "Northgate", "Kingsway", "Riverside",
            "Highland", "Crown", "Westbury"],
           ["Ltd", "plc", "Holdings Ltd", "& Sons Ltd", "LLP"]),
    "US": (["Lakeside", "Summit", "Pioneer", "Liberty", "Golden Gate", "Redwood", "Keystone",
            "Blue Ridge", "Evergreen", "Lone Star"],
           ["Inc.", "LLC", "Corp.", "Co.", "Group Inc."]),
}  # fmt: skip
ORG_TRADES = ["Logistics", "Foods", "Dental", "Motors", "Consulting", "Plumbing", "Media"]
CITIES = {
    "PL": [("Warszawa", "22"), ("Kraków", "12"), ("Łódź", "42"), ("Wrocław", "71"),
           ("Poznań", "61"), ("Gdańsk", "58"), ("Szczecin", "91"), ("Lublin", "81")],
    "GB": [("London", "20"), ("Manchester", "161"), ("Birmingham", "121"), ("Leeds", "113"),
           ("Glasgow", "141"), ("Bristol", "117"), ("Edinburgh", "131"), ("Cardiff", "29")],
    "US": [("New York", "212"), ("Los Angeles", "213"), ("Chicago", "312"),
           ("Houston", "713"), ("San Francisco", "415"), ("Boston", "617"),
           ("Seattle", "206"), ("Miami", "305"), ("Denver", "303"), ("Atlanta", "404")],
}  # fmt: skip
LOCALE = {
    "PL": ("pl", "Europe/Warsaw"),
    "GB": ("en", "Europe/London"),
    "US": ("en", "America/New_York"),
}
PL_MOBILE = ["50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"]
GB_MOBILE = ["74", "75", "77", "78", "79"]
CLASSES = ["retail", "retail", "retail", "business", "premium", "prospect"]


def random_phone(rng: random.Random, country: str, area: str, mobile: bool) -> str:
    """A plausible E.164 number of ``country``: a mobile, or a landline in ``area``."""
    if country == "PL":
        if mobile:
            return f"+48{rng.choice(PL_MOBILE)}{rng.randrange(10**7):07d}"
        return f"+48{area}{rng.randrange(10**7):07d}"
    if country == "GB":
        if mobile:
            return f"+44{rng.choice(GB_MOBILE)}{rng.randrange(10**8):08d}"
        rest = 10 - len(area)  # GB national significant numbers have 10 digits
        first = rng.choice("378") if area == "20" else rng.choice("2345679")
        return f"+44{area}{first}{rng.randrange(10 ** (rest - 1)):0{rest - 1}d}"
    # US: NXX exchange (2-9, not N11), 4-digit line; "mobile" just means another area.
    npa = rng.choice(CITIES["US"])[1] if mobile else area
    while True:
        nxx = rng.randrange(200, 1000)
        if nxx % 100 != 11:
            return f"+1{npa}{nxx}{rng.randrange(10**4):04d}"


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    # Our names never hold tabs, newlines or backslashes, so no COPY escaping is needed.
    return str(value)


def generate(
    n_customers: int, phones_per_customer: float, seed: int, chunk: int = 20_000
) -> Iterator[tuple[list[str], list[str]]]:
    """Yield (customer lines, contact point lines) in COPY text format, chunk by chunk."""
    rng = random.Random(seed)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    # 1, 2 or 3 phones; P(2) and P(3) chosen so that the mean is phones_per_customer.
    extra = max(0.0, phones_per_customer - 1.0)
    p3 = max(0.0, extra - 0.4) / 2 if extra > 0.4 else extra / 4
    p2 = extra - 2 * p3
    cp_id = 0
    recent: list[str] = []  # numbers that a later customer may share (household, office)
    cust_lines: list[str] = []
    cp_lines: list[str] = []
    for cid in range(1, n_customers + 1):
        r = rng.random()
        country = "PL" if r < 0.6 else ("GB" if r < 0.85 else "US")
        city, area = rng.choice(CITIES[country])
        language, tz = LOCALE[country]
        is_org = rng.random() < 0.12
        first = last = org = None
        if is_org:
            words, forms = ORG_WORDS[country]
            org = f"{rng.choice(words)} {rng.choice(ORG_TRADES)} {rng.choice(forms)}"
            display = org
        else:
            if country == "PL":
                female = rng.random() < 0.5
                first = rng.choice(PL_FIRST_F if female else PL_FIRST_M)
                last = rng.choice(PL_LAST)[1 if female else 0]
            elif country == "GB":
                first, last = rng.choice(GB_FIRST), rng.choice(GB_LAST)
            else:
                first, last = rng.choice(US_FIRST), rng.choice(US_LAST)
            display = f"{first} {last}"
        created = now - dt.timedelta(seconds=rng.randrange(5 * 365 * 86400))
        updated = created + dt.timedelta(
            seconds=rng.randrange(int((now - created).total_seconds()) + 1)
        )
        birthday = (
            None
            if is_org or rng.random() < 0.6
            else dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(365 * 65))
        )
        row = (
            cid, "organisation" if is_org else "person", first, last, org, display,
            display.casefold(), rng.choice(CLASSES), rng.random() < 0.02,
            rng.random() < 0.05, rng.random() < 0.1, birthday, language, tz, city, country,
            None, None, created.isoformat(), updated.isoformat(),
        )  # fmt: skip
        cust_lines.append("\t".join(map(_copy_text, row)))

        r = rng.random()
        count = 3 if r < p3 else (2 if r < p3 + p2 else 1)
        mine: set[str] = set()
        for i in range(count):
            if i > 0 and recent and rng.random() < 0.03:
                e164 = rng.choice(recent)  # a shared line
            else:
                e164 = random_phone(rng, country, area, mobile=rng.random() < 0.65)
            if e164 in mine:
                continue
            mine.add(e164)
            if len(recent) < 5000:
                recent.append(e164)
            else:
                recent[rng.randrange(5000)] = e164
            cp_id += 1
            label = "work" if is_org else ("mobile" if i == 0 else rng.choice(["home", "work"]))
            cp_lines.append(
                f"{cp_id}\t{cid}\tphone\t{e164}\t{e164}\t{label}\t{'t' if i == 0 else 'f'}\t"
                f"{created.isoformat()}"
            )
        if len(cust_lines) >= chunk:
            yield cust_lines, cp_lines
            cust_lines, cp_lines = [], []
    if cust_lines:
        yield cust_lines, cp_lines


CUSTOMER_COLUMNS = (
    "id", "kind", "first_name", "last_name", "organisation_name", "display_name",
    "search_name", "customer_class", "vip", "no_calls", "no_mail", "birthday", "language",
    "timezone", "city", "country", "notes", "merged_into_id", "created_at", "updated_at",
)  # fmt: skip
CONTACT_COLUMNS = (
    "id", "customer_id", "kind", "value", "raw", "label", "is_primary", "created_at",
)  # fmt: skip

# --------------------------------------------------------------------------------------
# Building the database
# --------------------------------------------------------------------------------------


def libpq_url(url: str, dbname: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if dbname is not None:
        u = u.set(database=dbname)
    return u.render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config(url)).get_current_head())


def wanted_build(args: argparse.Namespace, url: str) -> dict[str, Any]:
    return {
        "customers": args.customers,
        "phones_per_customer": args.phones_per_customer,
        "seed": args.seed,
        "generator": GENERATOR_VERSION,
        "alembic_head": head_revision(sqlalchemy_url(url)),
    }


def existing_build(url: str) -> dict[str, Any] | None:
    """The build recorded on the database (its COMMENT), or None if absent or incomplete."""
    dbname = make_url(url).database
    with psycopg.connect(libpq_url(url, "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (dbname,),
        ).fetchone()
    if row is None or not row[0]:
        return None
    try:
        return dict(json.loads(row[0]).get("build") or {}) or None
    except ValueError:
        return None


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _table_ddl(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(drop, create) statements for the constraints and indexes of ``tables``."""
    out: list[tuple[str, str]] = []
    # Foreign keys first (they depend on primary keys), then unique/primary keys.
    for con in conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
             FROM pg_constraint c
            WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('f', 'u')
            ORDER BY c.contype = 'f' DESC, c.conname""",
        (list(tables),),
    ):
        table, name, definition, _ = con
        out.append(
            (
                f'ALTER TABLE {table} DROP CONSTRAINT "{name}"',
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}',
            )
        )
    for _table, name, definition in conn.execute(
        """SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename = ANY(%s)
              AND indexname NOT IN (SELECT conname FROM pg_constraint)""",
        (list(tables),),
    ):
        out.append((f'DROP INDEX "{name}"', definition))
    return out


def _schema_fingerprint(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> list[str]:
    rows = conn.execute(
        """SELECT indexdef FROM pg_indexes WHERE schemaname='public' AND tablename = ANY(%s)
           UNION ALL
           SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid::regclass::text = ANY(%s)""",
        (list(tables), list(tables)),
    ).fetchall()
    return sorted(r[0] for r in rows)


def build(url: str, want: dict[str, Any]) -> dict[str, Any]:
    """Create the database, migrate it to head, COPY the customers in, ANALYZE."""
    dbname = make_url(url).database
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url, "postgres"), autocommit=True) as conn:
        log(f"(re)creating database {dbname}")
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    log("migrating to head with hub.migrate.upgrade")
    upgrade(sqlalchemy_url(url))

    tables = ("customers", "contact_points")
    with psycopg.connect(libpq_url(url)) as conn:
        before = _schema_fingerprint(conn, tables)
        ddl = _table_ddl(conn, tables)
        # Secondary indexes, unique constraints and foreign keys are dropped for the load and
        # recreated from their own definitions afterwards: one sort per index instead of
        # millions of random inserts. Primary keys stay (ids arrive in order: cheap).
        for drop, _ in ddl:
            conn.execute(drop)
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # TRUNCATE in this transaction lets COPY FREEZE skip the later hint-bit rewrite.
        # CASCADE: the (empty) tables that reference customers, e.g. interactions.
        conn.execute("TRUNCATE contact_points, customers CASCADE")
        cust_copy = f"COPY customers ({', '.join(CUSTOMER_COLUMNS)}) FROM STDIN WITH (FREEZE)"
        cp_copy = f"COPY contact_points ({', '.join(CONTACT_COLUMNS)}) FROM STDIN WITH (FREEZE)"
        n_cust = n_cp = 0
        cp_buffer: list[str] = []
        with conn.cursor() as cur, cur.copy(cust_copy) as copy:
            for cust_lines, cp_lines in generate(
                want["customers"], want["phones_per_customer"], want["seed"]
            ):
                copy.write(("\n".join(cust_lines) + "\n").encode())
                n_cust += len(cust_lines)
                cp_buffer.append("\n".join(cp_lines) + "\n")
                n_cp += len(cp_lines)
                if n_cust % 200_000 == 0:
                    log(f"  customers: {n_cust:,}")
        log(f"copied {n_cust:,} customers; copying {n_cp:,} phone numbers")
        with conn.cursor() as cur, cur.copy(cp_copy) as copy:
            for block in cp_buffer:
                copy.write(block.encode())
        del cp_buffer
        log("recreating indexes and constraints")
        for _, create in reversed(ddl):
            conn.execute(create)
        for table in tables:
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, 'id'), (SELECT max(id) FROM {}))"
                ).format(sql.Literal(table), sql.Identifier(table))
            )
        after = _schema_fingerprint(conn, tables)
        if before != after:
            raise SystemExit("bench: indexes/constraints differ after the load; refusing to go on")
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        log("VACUUM ANALYZE")
        conn.execute("VACUUM (ANALYZE) customers")
        conn.execute("VACUUM (ANALYZE) contact_points")
        stats = {
            "customers": n_cust,
            "phone_numbers": n_cp,
            "distinct_numbers": conn.execute(
                "SELECT count(DISTINCT value) FROM contact_points WHERE kind='phone'"
            ).fetchone()[0],  # type: ignore[index]
            "db_size_mb": round(
                conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
                / 2**20
            ),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
    # The comment marks a complete build; a half-built database has none and is rebuilt.
    record_build(url, want, stats)
    log(f"built in {stats['build_seconds']} s")
    return stats


def record_build(url: str, want: dict[str, Any], stats: dict[str, Any]) -> None:
    comment = json.dumps({"build": want, "stats": stats})
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(make_url(url).database), sql.Literal(comment)
            )
        )


def build_stats(url: str) -> dict[str, Any]:
    dbname = make_url(url).database
    with psycopg.connect(libpq_url(url, "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (dbname,),
        ).fetchone()
    return dict(json.loads(row[0])["stats"]) if row and row[0] else {}


# --------------------------------------------------------------------------------------
# The lookups
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    raw: str  # what the caller ID looks like
    region: str | None  # the default region the app is configured with
    e164: str  # what it normalises to
    known: bool


def present(rng: random.Random, e164: str) -> tuple[str, str | None]:
    """``e164`` the way a carrier, a web form or an agent might type it, with a region."""
    num = phonenumbers.parse(e164)
    country = phonenumbers.region_code_for_country_code(num.country_code)
    any_region = rng.choice([None, "PL", "GB", "US"])
    intl = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    digits = e164[1:]
    choice = rng.randrange(8)
    if choice == 0:
        return e164, any_region  # what Twilio sends
    if choice == 1:
        return intl, any_region  # +48 601 234 567
    if choice == 2:
        return "00" + digits, any_region  # 0048601234567
    if choice == 3:
        return national, country  # 601 234 567 / 020 7946 0018 / (212) 555-0123
    if choice == 4:
        # 601-234-567, 020-7946-0018, 212-555-0123
        return national.replace("(", "").replace(")", "").replace(" ", "-"), country
    if choice == 5 and country == "GB":
        trunk, _, rest = national.partition(" ")
        return f"({trunk}) {rest}", "GB"  # (020) 7946 0018
    if choice == 6 and country == "GB":
        return intl.replace(" ", " (0)", 1), any_region  # +44 (0)20 7946 0018
    if choice == 6 and country == "US":
        return "1-" + national.replace("(", "").replace(") ", "-"), "US"  # 1-212-555-0123
    return f" {intl.replace(' ', '.')} ", any_region  # +48.601.234.567 with stray blanks


def pick_lookups(
    conn: psycopg.Connection[Any], n: int, unknown_share: float, seed: int
) -> list[Lookup]:
    rng = random.Random(seed + 1)
    n_unknown = round(n * unknown_share)
    conn.execute("SELECT setseed(%s)", (((seed % 1000) / 1000.0),))
    known = [
        r[0]
        for r in conn.execute(
            "SELECT value FROM contact_points WHERE kind = 'phone' ORDER BY random() LIMIT %s",
            (n - n_unknown,),
        )
    ]
    unknown: list[str] = []
    while len(unknown) < n_unknown:
        batch = []
        for _ in range(n_unknown - len(unknown)):
            country = rng.choice(["PL", "PL", "GB", "US"])
            _, area = rng.choice(CITIES[country])
            batch.append(random_phone(rng, country, area, mobile=rng.random() < 0.65))
        taken = {
            r[0]
            for r in conn.execute(
                "SELECT value FROM contact_points WHERE kind = 'phone' AND value = ANY(%s)",
                (batch,),
            )
        }
        unknown.extend(sorted(set(batch) - taken - set(unknown)))
    lookups = [Lookup(*present(rng, e), e, True) for e in known]
    lookups += [Lookup(*present(rng, e), e, False) for e in unknown[:n_unknown]]
    rng.shuffle(lookups)
    bad = [lk for lk in lookups if normalize_phone(lk.raw, lk.region) != lk.e164]
    if bad:
        raise SystemExit(
            f"bench: {len(bad)} presented numbers do not normalise back, e.g. {bad[0]}"
        )
    return lookups


def stats_ms(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] / 1e6

    return {
        "p50_ms": round(pct(50), 4),
        "p90_ms": round(pct(90), 4),
        "p99_ms": round(pct(99), 4),
        "max_ms": round(s[-1] / 1e6, 4),
        "mean_ms": round(statistics.fmean(s) / 1e6, 4),
    }


def plan_nodes(conn: Any, query: str, params: Any) -> list[str]:
    """The node types and index names of the plan of ``query``."""
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {query}", params).scalar_one()

    def walk(p: dict[str, Any]) -> Iterator[str]:
        yield f"{p['Node Type']} {p.get('Index Name', p.get('Relation Name', ''))}".strip()
        for child in p.get("Plans", []):
            yield from walk(child)

    return list(walk(plan[0]["Plan"]))


def _literal(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def explain(engine: sqlalchemy.Engine, lookup: Lookup) -> dict[str, Any]:
    """The plans of the floor query and of the very statement identify_by_phone sends.

    Both as planned for the given number and as the generic plan that a prepared statement
    (psycopg prepares a query after a few executions) may switch to.
    """
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
        captured.append((statement, params))

    sqlalchemy.event.listen(engine, "before_cursor_execute", grab)
    try:
        with Session(engine) as s:
            identify_by_phone(s, lookup.raw, lookup.region)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", grab)
    statement, params = captured[-1]
    # %(name)s placeholders -> $n, for PREPARE.
    names: list[str] = []

    def dollar(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return f"${len(names)}"

    prepared = re.sub(r"%\((\w+)\)s", dollar, statement)
    floor_prepared = FLOOR_SQL.replace("%s", "$1::varchar")
    with engine.connect() as conn:
        out: dict[str, Any] = {
            "ours": plan_nodes(conn, statement, params),
            "floor": plan_nodes(conn, FLOOR_SQL, (lookup.e164,)),
        }
        conn.exec_driver_sql(f"PREPARE bench_ours AS {prepared}")
        conn.exec_driver_sql(f"PREPARE bench_floor AS {floor_prepared}")
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        args = ", ".join(_literal(params[n]) for n in names)
        out["ours_generic"] = plan_nodes(conn, f"EXECUTE bench_ours({args})", ())
        out["floor_generic"] = plan_nodes(conn, f"EXECUTE bench_floor({_literal(lookup.e164)})", ())
        conn.rollback()
    out["index_used"] = all(
        any(n.endswith(" " + KIND_VALUE_INDEX) for n in out[k])
        for k in ("ours", "floor", "ours_generic", "floor_generic")
    )
    out["ours_sql"] = " ".join(statement.split())
    return out


def timed(fn: Callable[[], Any]) -> tuple[tuple[int, int], Any]:
    """((wall ns, CPU ns of this thread), result) of ``fn()``.

    The CPU time leaves out waiting: for the server, and for a core when the machine is
    busy, so it shows our own overhead even when other work blurs the wall-clock tails.
    """
    c0 = time.thread_time_ns()
    t0 = time.perf_counter_ns()
    result = fn()
    t1 = time.perf_counter_ns()
    return (t1 - t0, time.thread_time_ns() - c0), result


def measure(url: str, lookups: list[Lookup], warmup: int, seed: int) -> dict[str, Any]:
    engine = make_engine(sqlalchemy_url(url), pool_size=2)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    floor_conn = psycopg.connect(libpq_url(url), autocommit=True, prepare_threshold=0)
    rng = random.Random(seed + 2)

    def floor(e164: str) -> list[int]:
        return [r[0] for r in floor_conn.execute(FLOOR_SQL, (e164,))]

    # Warm-up: caches (PostgreSQL's and SQLAlchemy's compiled statements), prepared plans.
    for lk in rng.sample(lookups, min(warmup, len(lookups))):
        normalize_phone(lk.raw, lk.region)
        floor(lk.e164)
        with sessions() as s:
            identify_by_phone(s, lk.raw, lk.region)
        with sessions() as s, s.begin():
            s.connection().exec_driver_sql("SELECT 1")
            identify_by_phone(s, lk.raw, lk.region)

    times: dict[str, list[int]] = {
        "ours": [],
        "ours_fresh_session": [],
        "floor": [],
        "normalize": [],
    }
    cpu: dict[str, list[int]] = {k: [] for k in times}
    wrong: list[dict[str, Any]] = []
    gc.collect()
    for lk in lookups:
        # The four measurements of one number run back to back in a random order, so that
        # both sides see the same caches and the same noise from the rest of the machine.
        order = ["ours", "ours_fresh_session", "floor", "normalize"]
        rng.shuffle(order)
        got: dict[str, Any] = {}
        for what in order:
            if what == "floor":
                ns, got[what] = timed(lambda lk=lk: floor(lk.e164))
            elif what == "normalize":
                ns, got[what] = timed(lambda lk=lk: normalize_phone(lk.raw, lk.region))
            elif what == "ours":
                # As intake uses it: inside a session whose transaction is already open
                # (intake has flushed the interaction by then, so BEGIN has been sent).
                with sessions() as s, s.begin():
                    s.connection().exec_driver_sql("SELECT 1")
                    ns, c = timed(lambda s=s, lk=lk: identify_by_phone(s, lk.raw, lk.region))
                    got[what] = None if c is None else c.id
            else:
                # As a request's first query: checkout (with pre-ping), BEGIN, query.
                with sessions() as s:
                    ns, c = timed(lambda s=s, lk=lk: identify_by_phone(s, lk.raw, lk.region))
                    got[what] = None if c is None else c.id
            times[what].append(ns[0])
            cpu[what].append(ns[1])
        owners = got["floor"]
        ok = (
            got["normalize"] == lk.e164
            and bool(owners) == lk.known
            and got["ours"] == got["ours_fresh_session"]
            and (got["ours"] in owners if lk.known else got["ours"] is None)
        )
        if not ok and len(wrong) < 5:
            wrong.append({"raw": lk.raw, "region": lk.region, **got})
        elif not ok:
            wrong.append({})
    plans = explain(engine, next(lk for lk in lookups if lk.known))
    floor_conn.close()
    engine.dispose()
    return {"times": times, "cpu": cpu, "wrong": wrong, "plans": plans}


def versions(url: str) -> dict[str, str]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "postgresql": server,
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "phonenumbers": phonenumbers.__version__,
        "git": commit,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("SWITCHBOARD_BENCH_URL", DEFAULT_URL),
                   help="PostgreSQL URL of the bench database (created if missing)")  # fmt: skip
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--phones-per-customer", type=float, default=1.5)
    p.add_argument("--lookups", type=int, default=10_000)
    p.add_argument("--warmup", type=int, default=1_000)
    p.add_argument("--unknown-share", type=float, default=0.1,
                   help="share of looked-up numbers that belong to nobody")  # fmt: skip
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rebuild", action="store_true", help="rebuild even if the data matches")
    p.add_argument(
        "--max-load",
        type=float,
        default=None,
        help="before measuring, wait (up to --max-wait s) for the 1-minute load average "
        "to drop below this; a shared machine's run queue otherwise dominates the p99s",
    )
    p.add_argument("--max-wait", type=float, default=1800.0)
    args = p.parse_args(argv)
    if not 1.0 <= args.phones_per_customer <= 2.5:
        p.error("--phones-per-customer must be between 1.0 and 2.5")

    url = args.url
    want = wanted_build(args, url)
    have = existing_build(url)
    same_data = have is not None and all(
        have.get(k) == v for k, v in want.items() if k != "alembic_head"
    )
    rebuilt = args.rebuild or not same_data
    if rebuilt:
        data = build(url, want)
    elif have is not None and have.get("alembic_head") != want["alembic_head"]:
        # New migrations since the build: apply them to the loaded data, as a deployment
        # would, instead of rebuilding.
        log(f"migrating {make_url(url).database} to head {want['alembic_head']}")
        upgrade(sqlalchemy_url(url))
        data = build_stats(url)
        record_build(url, want, data)
    else:
        log(f"reusing {make_url(url).database} (built with the same sizes; --rebuild to redo)")
        data = build_stats(url)

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        lookups = pick_lookups(conn, args.lookups, args.unknown_share, args.seed)
    if args.max_load is not None:
        deadline = time.monotonic() + args.max_wait
        while os.getloadavg()[0] >= args.max_load and time.monotonic() < deadline:
            log(f"load average {os.getloadavg()[0]:.2f} >= {args.max_load}; waiting")
            time.sleep(30)
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"measuring {len(lookups):,} lookups after {args.warmup:,} warm-up rounds")
    result = measure(url, lookups, args.warmup, args.seed)
    t = result["times"]
    ours, fresh, floor = (
        stats_ms(t["ours"]),
        stats_ms(t["ours_fresh_session"]),
        stats_ms(t["floor"]),
    )
    norm = stats_ms(t["normalize"])
    cpu_stats = {k: stats_ms(v) for k, v in result["cpu"].items()}
    ratio = ours["p99_ms"] / floor["p99_ms"]
    ratio_fresh = fresh["p99_ms"] / floor["p99_ms"]
    goal_met = ours["p99_ms"] < GOAL_P99_MS and ratio <= GOAL_RATIO
    out = {
        "bench": "lookup",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "goal": f"ours p99 < {GOAL_P99_MS} ms and <= {GOAL_RATIO}x floor p99",
        "goal_met": goal_met,
        "ours": ours,
        "floor": floor,
        "ratio_p99": round(ratio, 2),
        "ours_fresh_session": fresh,
        "ratio_p99_fresh_session": round(ratio_fresh, 2),
        "normalize": norm,
        "normalize_share_of_ours_mean": round(norm["mean_ms"] / ours["mean_ms"], 3),
        "query_and_orm_mean_ms": round(ours["mean_ms"] - norm["mean_ms"], 4),
        "ratio_p50": round(ours["p50_ms"] / floor["p50_ms"], 2),
        # Client CPU per call (this process only, no waiting): load-independent overhead.
        "cpu": cpu_stats,
        "normalize_share_of_ours_cpu_mean": round(
            cpu_stats["normalize"]["mean_ms"] / cpu_stats["ours"]["mean_ms"], 3
        ),
        "wrong_answers": len(result["wrong"]),
        "wrong_examples": [w for w in result["wrong"] if w][:5],
        "plans": result["plans"],
        "sizes": {
            **data,
            "lookups": len(lookups),
            "unknown_share": args.unknown_share,
            "warmup": args.warmup,
            "rebuilt": rebuilt,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            # Other work on the machine shows up in the tails of both ours and the floor.
            "loadavg_before": load_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": versions(url),
    }
    print(json.dumps(out, ensure_ascii=False), flush=True)
    if result["wrong"] or not result["plans"]["index_used"]:
        return 2
    return 0 if goal_met else 1


if __name__ == "__main__":
    sys.exit(main())
