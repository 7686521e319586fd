"""The demo data set behind ``switchboard demo`` and the first run of ``make run``.

A believable contact centre: a few hundred Polish, British and US customers (people and
organisations) with phone numbers typed the way people type them (national and
international formats, parsed with the customer's own region), e-mail addresses, a few fax
numbers, custom fields, tags, customer classes, VIPs, consent flags, birthdays, relations,
tickets in every status with notes, and 90 days of history across channels; agents,
supervisors and an admin in the teams "Sales" and "Service", all with :data:`DEMO_PASSWORD`.

The same seed gives the same data; timestamps are relative to the moment of loading (or
``now``) so that the history always covers the last 90 days. A few customers are always
there with well-known numbers and addresses (:data:`KNOWN_CUSTOMERS`), so that a simulated
call or e-mail pops a card you can predict.

Phone numbers are from ranges reserved for fiction where the country has them (Ofcom's
drama numbers in the UK, 555-01xx in North America); e-mail domains are ``example.*`` or
under the reserved ``.example`` top-level domain, so nothing here reaches a real person.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import Conflict
from crm_core.models import Customer, Interaction, User
from crm_core.services.custom_fields import define_field
from crm_core.services.customers import do_add_relation, do_create_customer
from crm_core.services.tickets import do_add_note, do_create_ticket, do_update_ticket
from crm_core.services.users import do_create_user, get_or_create_team, hash_password

# Printed by the CLI and in the README: a demo login, not a secret.
DEMO_PASSWORD = "switchboard"  # noqa: S105
DEFAULT_SEED = 20261123
HISTORY_DAYS = 90

# (e-mail, role, name, team names)
DEMO_USERS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("admin@switchboard.example", "admin", "Ada Administrator", ()),
    ("supervisor@switchboard.example", "supervisor", "Marta Zielińska", ("Sales", "Service")),
    ("agent@switchboard.example", "agent", "Piotr Nowak", ("Service",)),
    ("emily.clarke@switchboard.example", "agent", "Emily Clarke", ("Service",)),
    ("tomasz.wisniewski@switchboard.example", "agent", "Tomasz Wiśniewski", ("Sales",)),
    ("jake.miller@switchboard.example", "agent", "Jake Miller", ("Sales",)),
    ("olivia.hughes@switchboard.example", "agent", "Olivia Hughes", ("Sales", "Service")),
]

# Our own numbers, the "to" of inbound calls and faxes per country.
OUR_NUMBERS = {"PL": "+48223070000", "GB": "+442079460999", "US": "+12125550100"}
OUR_FAX = {"PL": "+48223070001", "GB": "+442079460998", "US": "+12125550101"}
# The e-mail channel's default mailbox (SWITCHBOARD_EMAIL_ADDRESSES), so live replies match.
OUR_EMAIL = {
    "PL": "support@switchboard.localhost",
    "GB": "support@switchboard.localhost",
    "US": "support@switchboard.localhost",
}
OUR_SALES_EMAIL = "sales@switchboard.localhost"


@dataclass(frozen=True)
class KnownCustomer:
    """A demo customer whose number and address are documented (README, simulate)."""

    first_name: str
    last_name: str
    country: str
    city: str
    phone: str  # as typed, in the customer's national format
    e164: str
    email: str


KNOWN_CUSTOMERS: tuple[KnownCustomer, ...] = (
    KnownCustomer(
        "Anna",
        "Kowalska",
        "PL",
        "Warszawa",
        "601 234 567",
        "+48601234567",
        "anna.kowalska@example.com",
    ),
    KnownCustomer(
        "Oliver",
        "Bennett",
        "GB",
        "London",
        "020 7946 0018",
        "+442079460018",
        "oliver.bennett@example.com",
    ),
    KnownCustomer(
        "Emily",
        "Johnson",
        "US",
        "New York",
        "(212) 555-0143",
        "+12125550143",
        "emily.johnson@example.com",
    ),
)

# Anna Kowalska's employer: a well-known office line, fax number and mailbox.
KNOWN_ORGANISATION = {
    "name": "Kowalski Transport sp. z o.o.",
    "city": "Warszawa",
    "address": "ul. Grochowska 306, 03-840 Warszawa",
    "phone": "22 307 12 00",
    "phone_e164": "+48223071200",
    "fax": "22 307 12 01",
    "fax_e164": "+48223071201",
    "email": "biuro@kowalski-transport.example",
}

# --------------------------------------------------------------------------- name pools


def _words(text: str) -> list[str]:
    return text.split()


PL_FIRST_F = _words(
    "Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Magdalena Joanna "
    "Aleksandra Monika Zofia Natalia Karolina Dorota Beata Justyna Paulina Agata"
)
PL_FIRST_M = _words(
    "Piotr Krzysztof Andrzej Tomasz Paweł Jan Michał Marcin Jakub Adam Łukasz Grzegorz "
    "Mateusz Wojciech Mariusz Dariusz Marek Kamil Rafał Bartosz"
)
PL_LAST = _words(
    "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański "
    "Woźniak Dąbrowski Kozłowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski "
    "Nowakowski Pawłowski Michalski Król Wieczorek Jabłoński Wróbel Zając Majewski Olszewski "
    "Stępień Malinowski Górski Rutkowski Sikora Baran"
)
GB_FIRST_F = _words(
    "Olivia Amelia Isla Ava Emily Sophie Grace Lily Chloe Charlotte Jessica Hannah Lucy Ella "
    "Freya Eleanor Ruby"
)
GB_FIRST_M = _words(
    "Oliver George Harry Jack Jacob Noah Charlie Thomas William James Alfie Oscar Henry "
    "Edward Samuel Daniel"
)
GB_LAST = _words(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Hughes Edwards Turner Cooper "
    "Harris Ward Morris Bennett Price Shaw Fletcher"
)
US_FIRST_F = _words(
    "Emma Olivia Ava Sophia Isabella Mia Abigail Emily Madison Elizabeth Megan Ashley Sarah "
    "Jennifer Lauren Rachel Hailey"
)
US_FIRST_M = _words(
    "Liam Noah Ethan Mason Logan Lucas Jackson Aiden Michael David Matthew Joshua Christopher "
    "Andrew Ryan Tyler Brandon"
)
US_LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Moore Martin Lee Thompson Harris Clark Lewis "
    "Robinson Walker Young Allen King Scott Nguyen Hill Baker"
)

# city, area code (national significant prefix), time zone, postcode pattern
PL_CITIES = [
    ("Warszawa", "22", "00-{:03d}"),
    ("Kraków", "12", "30-{:03d}"),
    ("Łódź", "42", "90-{:03d}"),
    ("Wrocław", "71", "50-{:03d}"),
    ("Poznań", "61", "60-{:03d}"),
    ("Gdańsk", "58", "80-{:03d}"),
    ("Szczecin", "91", "70-{:03d}"),
    ("Lublin", "81", "20-{:03d}"),
    ("Katowice", "32", "40-{:03d}"),
    ("Białystok", "85", "15-{:03d}"),
]
PL_STREETS = [
    "ul. Marszałkowska",
    "ul. Długa",
    "al. Jerozolimskie",
    "ul. Piotrkowska",
    "ul. Floriańska",
    "ul. Świdnicka",
    "ul. Półwiejska",
    "ul. Mariacka",
    "ul. Krakowskie Przedmieście",
    "ul. Lipowa",
    "ul. Ogrodowa",
    "ul. Polna",
    "ul. Słoneczna",
    "ul. Kościuszki",
    "ul. Mickiewicza",
    "ul. Sienkiewicza",
]
# Ofcom's drama ranges: 01xx 496 0xxx (and 020 7946 0xxx in London), mobiles 07700 900xxx.
GB_CITIES = [
    ("London", "20 7946", "{} {}{} {}{}"),
    ("Manchester", "161 496", "M{} {}{}{}"),
    ("Birmingham", "121 496", "B{} {}{}{}"),
    ("Leeds", "113 496", "LS{} {}{}{}"),
    ("Glasgow", "141 496", "G{} {}{}{}"),
    ("Bristol", "117 496", "BS{} {}{}{}"),
    ("Edinburgh", "131 496", "EH{} {}{}{}"),
    ("Liverpool", "151 496", "L{} {}{}{}"),
]
GB_STREETS = [
    "High Street",
    "Station Road",
    "Church Lane",
    "Victoria Road",
    "Park Avenue",
    "Queen Street",
    "Mill Lane",
    "King's Road",
    "Green Lane",
    "Manor Road",
    "The Crescent",
    "Albert Street",
]
LONDON_POSTCODES = ["SW1A 2AA", "EC1V 9HX", "N1 9GU", "SE1 7PB", "W1D 3QF", "E2 8DY", "NW3 2QG"]
GB_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
US_CITIES = [
    ("New York", "212", "NY", "America/New_York", "100"),
    ("Chicago", "312", "IL", "America/Chicago", "606"),
    ("Los Angeles", "213", "CA", "America/Los_Angeles", "900"),
    ("Boston", "617", "MA", "America/New_York", "021"),
    ("Seattle", "206", "WA", "America/Los_Angeles", "981"),
    ("Austin", "512", "TX", "America/Chicago", "787"),
    ("Denver", "303", "CO", "America/Denver", "802"),
    ("Atlanta", "404", "GA", "America/New_York", "303"),
]
US_STREETS = [
    "Maple Avenue",
    "Oak Street",
    "Main Street",
    "Washington Boulevard",
    "Park Place",
    "Elm Street",
    "Lakeview Drive",
    "Sunset Boulevard",
    "Pine Road",
    "Cedar Lane",
    "Madison Avenue",
    "Lincoln Way",
]

PL_MOBILE_PREFIXES = _words(
    "501 502 503 504 506 509 510 512 530 533 535 570 577 600 602 604 605 607 660 661 664 690 "
    "691 693 697 721 724 730 780 784 790 791 880 882 888"
)

PL_ORG_PATTERNS = [
    "{last} i Synowie sp. z o.o.",
    "Transport {last} sp. z o.o.",
    "{city} Logistyka S.A.",
    "Piekarnia {last}",
    "Auto-Serwis {last} s.c.",
    "Biuro Rachunkowe {last}",
    "Hurtownia {last}",
    "{last} Budownictwo sp. j.",
    "Przychodnia {city}-Centrum",
    "Drukarnia {last} sp. z o.o.",
]
GB_ORG_PATTERNS = [
    "{last} & Sons Ltd",
    "{city} Logistics plc",
    "{last} Engineering Ltd",
    "{last} Dental Practice",
    "{last} Property Services Ltd",
    "{city} Print Works Ltd",
    "{last} & {last2} Solicitors LLP",
    "{last} Builders Merchants",
]
US_ORG_PATTERNS = [
    "{last} Holdings Inc.",
    "{city} Dental Group LLC",
    "{last} & Partners LLP",
    "{last} Supply Co.",
    "{city} Medical Billing Inc.",
    "{last} Roofing LLC",
    "{last} Insurance Agency",
    "{city} Freight Corp.",
]

PERSON_DOMAINS = {
    "PL": ["example.com", "poczta.example", "onet.example", "example.net"],
    "GB": ["example.com", "example.org", "btinternet.example", "example.net"],
    "US": ["example.com", "example.net", "mailbox.example", "example.org"],
}
ORG_MAILBOXES = {
    "PL": ["biuro", "kontakt", "sekretariat", "zamowienia"],
    "GB": ["info", "enquiries", "office", "accounts"],
    "US": ["info", "contact", "office", "billing"],
}

CUSTOMER_CLASSES = ["gold", "silver", "bronze", "prospect"]
TAGS = [
    "newsletter",
    "key-account",
    "reseller",
    "wholesale",
    "complaint-2026",
    "callback-requested",
    "renewal-due",
    "b2b",
    "price-sensitive",
    "event-2026",
]
PREFERRED_CONTACT = ["phone", "email", "post", "sms"]

POLISH_TRANSLIT = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")

# Ticket subjects per type, in the customer's language.
TICKET_SUBJECTS = {
    "pl": {
        "question": [
            "Pytanie o fakturę {n}/2026",
            "Jak zmienić adres dostawy?",
            "Pytanie o warunki umowy",
            "Status zamówienia nr {n}",
        ],
        "complaint": [
            "Reklamacja zamówienia nr {n}",
            "Opóźniona dostawa",
            "Błędna kwota na fakturze {n}/2026",
            "Skarga na obsługę kuriera",
        ],
        "incident": [
            "Brak dostępu do panelu klienta",
            "Urządzenie nie działa po aktualizacji",
            "Awaria terminala płatniczego",
        ],
        "request": [
            "Prośba o ofertę na {n} sztuk",
            "Zmiana danych kontaktowych",
            "Przedłużenie umowy",
            "Prośba o duplikat faktury",
        ],
    },
    "en": {
        "question": [
            "Question about invoice {n}",
            "How do I change my delivery address?",
            "Question about contract terms",
            "Where is order #{n}?",
        ],
        "complaint": [
            "Order #{n} arrived damaged",
            "Late delivery",
            "Wrong amount on invoice {n}",
            "Complaint about the courier",
        ],
        "incident": [
            "Cannot log in to the customer portal",
            "Device stopped working after update",
            "Card terminal is down",
        ],
        "request": [
            "Quote for {n} units",
            "Please update my contact details",
            "Contract renewal",
            "Copy of invoice {n}, please",
        ],
    },
}

CALL_NOTES = {
    "pl": [
        "Klient pyta o termin dostawy.",
        "Wyjaśniono pozycje na fakturze.",
        "Klient prosi o kontakt w sprawie przedłużenia umowy.",
        "Zmieniono adres korespondencyjny.",
        "Klient zainteresowany nową ofertą.",
        "Umówiono oddzwonienie na jutro rano.",
        "Potwierdzono przyjęcie reklamacji.",
    ],
    "en": [
        "Customer asked about the delivery date.",
        "Explained the items on the invoice.",
        "Wants a call back about renewing the contract.",
        "Updated the postal address.",
        "Interested in the new price plan.",
        "Call back arranged for tomorrow morning.",
        "Confirmed we received the complaint.",
    ],
}
EMAIL_SUBJECTS = {
    "pl": [
        "Zapytanie ofertowe",
        "Faktura za {month}",
        "Zmiana danych",
        "Re: Zamówienie {n}",
        "Potwierdzenie płatności",
        "Pytanie o dostawę",
    ],
    "en": [
        "Request for a quote",
        "Invoice for {month}",
        "Change of details",
        "Re: Order {n}",
        "Payment confirmation",
        "Question about delivery",
    ],
}
# What customers write (e-mails, forms), and what we write back.
CUSTOMER_MESSAGES = {
    "pl": [
        "Dzień dobry, kiedy mogę spodziewać się dostawy mojego zamówienia?",
        "Proszę o przesłanie korekty faktury, kwota się nie zgadza.",
        "Chciałabym przedłużyć umowę na kolejny rok. Proszę o kontakt.",
        "Zmieniłem adres, proszę o aktualizację danych.",
        "Proszę o ofertę na większe zamówienie dla naszej firmy.",
        "Paczka dotarła uszkodzona, w załączeniu zdjęcia.",
    ],
    "en": [
        "Hello, when can I expect my order to arrive?",
        "Please send a corrected invoice, the amount is wrong.",
        "I'd like to renew my contract for another year. Please get in touch.",
        "I have moved house, please update my address.",
        "Could you send us a quote for a larger order?",
        "The parcel arrived damaged, photos attached.",
    ],
}
REPLIES = {
    "pl": [
        "Dzień dobry, dziękujemy za wiadomość. Zamówienie zostanie dostarczone w ciągu 2 dni.",
        "W załączeniu przesyłamy korektę faktury. Przepraszamy za pomyłkę.",
        "Dziękujemy, dane zostały zaktualizowane.",
        "W załączeniu oferta zgodnie z rozmową telefoniczną.",
    ],
    "en": [
        "Hello, thank you for your message. Your order will arrive within two days.",
        "Please find the corrected invoice attached. Sorry for the mistake.",
        "Thank you, we have updated your details.",
        "As discussed on the phone, please find our quote attached.",
    ],
}
NOTES = {
    "pl": [
        "Klient woli kontakt telefoniczny po 16:00.",
        "Decyzje zakupowe podejmuje zarząd.",
        "Przy następnym kontakcie zaproponować pakiet premium.",
        "Uwaga: wrażliwy na cenę, negocjuje rabaty.",
    ],
    "en": [
        "Prefers calls after 4 pm.",
        "Purchasing decisions go through the board.",
        "Offer the premium plan on the next contact.",
        "Price-sensitive; always asks for a discount.",
    ],
}
MONTHS = {
    "pl": [
        "styczeń",
        "luty",
        "marzec",
        "kwiecień",
        "maj",
        "czerwiec",
        "lipiec",
        "sierpień",
        "wrzesień",
        "październik",
        "listopad",
        "grudzień",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


@dataclass
class _Card:
    """What the generator decided about one customer before it is written."""

    country: str
    kind: str
    first_name: str | None = None
    last_name: str | None = None
    organisation_name: str | None = None
    female: bool = False
    city: str = ""
    address: str = ""
    timezone: str = ""
    phones: list[tuple[str, str]] = field(default_factory=list)  # (raw, label)
    faxes: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    area: str = ""  # dialling area (PL, US) or drama-range prefix (GB) of the city
    spouse_of: int | None = None  # index of the partner's card
    works_for: int | None = None  # index of the employer's card (else picked at random)
    known: bool = False
    no_calls: bool = False
    no_mail: bool = False

    @property
    def language(self) -> str:
        return "pl" if self.country == "PL" else "en"


class _Generator:
    """All randomness comes from one ``random.Random(seed)``: same seed, same data set."""

    def __init__(self, seed: int, now: dt.datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.used_numbers: set[str] = {k.e164 for k in KNOWN_CUSTOMERS}
        self.used_numbers.update(OUR_NUMBERS.values())
        self.used_numbers.update(OUR_FAX.values())
        self.used_numbers.update((KNOWN_ORGANISATION["phone_e164"], KNOWN_ORGANISATION["fax_e164"]))
        # Never handed out again, even when a fictional range runs dry (see _unique).
        self.reserved_numbers = frozenset(self.used_numbers)
        self.used_emails: set[str] = {k.email for k in KNOWN_CUSTOMERS}
        self.used_emails.add(KNOWN_ORGANISATION["email"])
        self.used_org_names: set[str] = {KNOWN_ORGANISATION["name"]}
        self.serial = 1000

    # ---- helpers
    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def next_serial(self) -> int:
        self.serial += self.rng.randint(1, 37)
        return self.serial

    def hexid(self, bits: int = 128) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def past(self, max_days: int = HISTORY_DAYS, min_days: int = 0) -> dt.datetime:
        """A moment in office hours (roughly) within the last ``max_days`` days."""
        day = self.rng.randint(min_days, max_days - 1)
        minutes = self.rng.randint(7 * 60, 19 * 60)
        base = dt.datetime.combine(
            (self.now - dt.timedelta(days=day)).date(), dt.time(0, 0), tzinfo=dt.UTC
        )
        stamp = base + dt.timedelta(minutes=minutes, seconds=self.rng.randint(0, 59))
        while stamp >= self.now:
            stamp -= dt.timedelta(days=1)
        return stamp

    # ---- phone numbers as people type them
    def _unique(self, make: Any) -> tuple[str, str]:
        """A number nobody has yet; once a range runs dry (the US fictional range has 100
        numbers per area code), a shared line, as households and offices have."""
        for attempt in range(100_000):
            raw, e164 = make()
            if e164 in self.reserved_numbers:
                continue
            if e164 not in self.used_numbers or attempt >= 200:
                self.used_numbers.add(e164)
                return raw, e164
        raise RuntimeError("no demo phone number left")  # pragma: no cover

    def pl_mobile(self) -> str:
        def make() -> tuple[str, str]:
            d = self.pick(PL_MOBILE_PREFIXES) + f"{self.rng.randrange(10**6):06d}"
            fmt = self.rng.randrange(5)
            raw = [
                f"{d[:3]} {d[3:6]} {d[6:]}",
                f"{d[:3]}-{d[3:6]}-{d[6:]}",
                f"+48 {d[:3]} {d[3:6]} {d[6:]}",
                f"0048{d}",
                f"+48{d}",
            ][fmt]
            return raw, f"+48{d}"

        return self._unique(make)[0]

    def pl_landline(self, area: str) -> str:
        def make() -> tuple[str, str]:
            d = area + f"{self.rng.randint(2, 8)}{self.rng.randrange(10**6):06d}"
            sub = d[2:]
            fmt = self.rng.randrange(4)
            raw = [
                f"{area} {sub[:3]} {sub[3:5]} {sub[5:]}",
                f"({area}) {sub[:3]}-{sub[3:5]}-{sub[5:]}",
                f"+48 {area} {sub[:3]} {sub[3:5]} {sub[5:]}",
                f"+48{area}{sub}",
            ][fmt]
            return raw, f"+48{d}"

        return self._unique(make)[0]

    def gb_mobile(self) -> str:
        def make() -> tuple[str, str]:
            tail = f"{self.rng.randrange(1000):03d}"
            fmt = self.rng.randrange(4)
            raw = [
                f"07700 900{tail}",
                f"+44 7700 900{tail}",
                f"+447700900{tail}",
                f"0044 7700 900 {tail}",
            ][fmt]
            return raw, f"+447700900{tail}"

        return self._unique(make)[0]

    def gb_landline(self, prefix: str) -> str:
        def make() -> tuple[str, str]:
            tail = f"0{self.rng.randrange(1000):03d}"
            area, local = prefix.split(" ")
            fmt = self.rng.randrange(4)
            raw = [
                f"0{area} {local} {tail}",
                f"+44 {area} {local} {tail}",
                f"+44 (0){area} {local} {tail}",
                f"(0{area}) {local} {tail}",
            ][fmt]
            return raw, f"+44{area}{local}{tail}"

        return self._unique(make)[0]

    def us_number(self, area: str) -> str:
        def make() -> tuple[str, str]:
            line = f"01{self.rng.randrange(100):02d}"
            fmt = self.rng.randrange(5)
            raw = [
                f"({area}) 555-{line}",
                f"{area}-555-{line}",
                f"+1 {area} 555 {line}",
                f"1 ({area}) 555-{line}",
                f"{area}.555.{line}",
            ][fmt]
            return raw, f"+1{area}555{line}"

        return self._unique(make)[0]

    # ---- e-mail addresses
    def email(self, local: str, domain: str) -> str:
        base = local.translate(POLISH_TRANSLIT).lower().replace(" ", "").replace("'", "")
        candidate = f"{base}@{domain}"
        n = 1
        while candidate in self.used_emails:
            n += 1
            candidate = f"{base}{n}@{domain}"
        self.used_emails.add(candidate)
        return candidate

    # ---- cards
    def place(self, card: _Card) -> None:
        rng = self.rng
        if card.country == "PL":
            city, area, postcode = self.pick(PL_CITIES)
            card.city, card.timezone = city, "Europe/Warsaw"
            flat = f"/{rng.randint(1, 80)}" if card.kind == "person" and self.chance(0.6) else ""
            card.address = (
                f"{self.pick(PL_STREETS)} {rng.randint(1, 180)}{flat}, "
                f"{postcode.format(rng.randrange(1000))} {city}"
            )
            card.area = area
        elif card.country == "GB":
            city, prefix, postcode = self.pick(GB_CITIES)
            card.city, card.timezone = city, "Europe/London"
            if city == "London":
                code = self.pick(LONDON_POSTCODES)
            else:
                code = postcode.format(
                    rng.randint(1, 20),
                    rng.randint(1, 9),
                    self.pick(GB_LETTERS),
                    self.pick(GB_LETTERS),
                )
            card.address = f"{rng.randint(1, 240)} {self.pick(GB_STREETS)}, {city} {code}"
            card.area = prefix
        else:
            city, area, state, tz, zip3 = self.pick(US_CITIES)
            card.city, card.timezone = city, tz
            card.address = (
                f"{rng.randint(10, 9800)} {self.pick(US_STREETS)}, {city}, "
                f"{state} {zip3}{rng.randrange(100):02d}"
            )
            card.area = area

    def mobile(self, card: _Card) -> str:
        if card.country == "PL":
            return self.pl_mobile()
        if card.country == "GB":
            return self.gb_mobile()
        return self.us_number(card.area)

    def landline(self, card: _Card) -> str:
        area = card.area
        if card.country == "PL":
            return self.pl_landline(area)
        if card.country == "GB":
            return self.gb_landline(area)
        return self.us_number(area)

    def person(
        self,
        country: str,
        *,
        female: bool | None = None,
        last_name: str | None = None,
        first_name: str | None = None,
    ) -> _Card:
        female = self.chance(0.5) if female is None else female
        if country == "PL":
            first = self.pick(PL_FIRST_F if female else PL_FIRST_M)
            last = last_name or self.pick(PL_LAST)
            last = _polish_surname(last, female)
        elif country == "GB":
            first = self.pick(GB_FIRST_F if female else GB_FIRST_M)
            last = last_name or self.pick(GB_LAST)
        else:
            first = self.pick(US_FIRST_F if female else US_FIRST_M)
            last = last_name or self.pick(US_LAST)
        first = first_name or first
        card = _Card(
            country=country, kind="person", first_name=first, last_name=last, female=female
        )
        self.place(card)
        card.phones.append((self.mobile(card), "mobile"))
        if self.chance(0.25):
            card.phones.append((self.landline(card), "home"))
        if self.chance(0.85):
            sep = self.pick([".", ".", "_", ""])
            local = f"{first}{sep}{last}" if self.chance(0.8) else f"{first[0]}{last}"
            card.emails.append(self.email(local, self.pick(PERSON_DOMAINS[country])))
        return card

    def organisation(self, country: str) -> _Card:
        patterns = {"PL": PL_ORG_PATTERNS, "GB": GB_ORG_PATTERNS, "US": US_ORG_PATTERNS}[country]
        lasts = {"PL": PL_LAST, "GB": GB_LAST, "US": US_LAST}[country]
        card = _Card(country=country, kind="organisation")
        self.place(card)
        for _ in range(50):
            name = self.pick(patterns).format(
                last=self.pick(lasts), last2=self.pick(lasts), city=card.city
            )
            if name not in self.used_org_names:
                break
        else:  # pragma: no cover - pools are large enough for a few hundred
            name = f"{name} {self.next_serial()}"
        self.used_org_names.add(name)
        card.organisation_name = name
        card.phones.append((self.landline(card), "office"))
        if self.chance(0.3):
            card.phones.append((self.mobile(card), "mobile"))
        if self.chance(0.3):
            card.faxes.append(self.landline(card))
        slug = _slug(name)
        card.emails.append(self.email(self.pick(ORG_MAILBOXES[country]), f"{slug}.example"))
        return card


def _polish_surname(last: str, female: bool) -> str:
    if not female:
        return last
    for ending, feminine in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
        if last.endswith(ending):
            return last[: -len(ending)] + feminine
    return last


def _slug(name: str) -> str:
    words = []
    for word in name.translate(POLISH_TRANSLIT).lower().replace("&", " ").split():
        cleaned = "".join(c for c in word if c.isalnum())
        if cleaned and cleaned not in (
            "sp",
            "z",
            "oo",
            "sa",
            "sc",
            "sj",
            "ltd",
            "plc",
            "llc",
            "llp",
            "inc",
            "co",
            "corp",
            "i",
        ):
            words.append(cleaned)
    return "-".join(words[:3]) or "firma"


def _known_card(gen: _Generator, known: KnownCustomer) -> _Card:
    card = _Card(
        country=known.country,
        kind="person",
        first_name=known.first_name,
        last_name=known.last_name,
        female=known.first_name != "Oliver",
        known=True,
    )
    gen.place(card)
    card.city = known.city
    card.timezone = {"PL": "Europe/Warsaw", "GB": "Europe/London", "US": "America/New_York"}[
        known.country
    ]
    card.address = {
        "PL": "ul. Marszałkowska 84/92 m. 12, 00-514 Warszawa",
        "GB": "221 Baker Street, London NW1 6XE",
        "US": "350 Fifth Avenue, New York, NY 10118",
    }[known.country]
    card.area = {"PL": "22", "GB": "20 7946", "US": "212"}[known.country]
    card.phones.append((known.phone, "mobile"))
    card.emails.append(known.email)
    return card


def _define_fields(session: Session) -> None:
    define_field(
        session, key="loyalty_points", label="Loyalty points", field_type="number", position=10
    )
    define_field(
        session, key="contract_end", label="Contract end date", field_type="date", position=20
    )
    define_field(
        session,
        key="preferred_contact",
        label="Preferred contact",
        field_type="choice",
        choices=PREFERRED_CONTACT,
        position=30,
    )
    define_field(session, key="newsletter", label="Newsletter", field_type="boolean", position=40)
    define_field(
        session, key="account_manager", label="Account manager", field_type="text", position=50
    )
    # The card has city and country columns only; the full postal address is a custom field
    # until the schema grows address columns.
    define_field(
        session, key="postal_address", label="Postal address", field_type="text", position=60
    )


def _create_users(session: Session) -> dict[str, User]:
    # One argon2 hash shared by every demo user: hashing is deliberately slow (~0.2 s), and
    # the demo users share the password anyway.
    shared_hash = hash_password(DEMO_PASSWORD)
    users: dict[str, User] = {}
    for email, role, name, team_names in DEMO_USERS:
        teams = [get_or_create_team(session, t) for t in team_names]
        user = do_create_user(
            session, email=email, name=name, password=None, role=role, teams=teams
        )
        user.password_hash = shared_hash
        users[email] = user
    return users


def load_demo(
    session: Session,
    customers: int = 300,
    seed: int = DEFAULT_SEED,
    *,
    now: dt.datetime | None = None,
) -> list[tuple[str, str]]:
    """Load the demo data set into ``session`` (the caller commits); return the logins.

    Returns ``(email, role)`` of every demo user (password :data:`DEMO_PASSWORD`). Raises
    :class:`crm_core.errors.Conflict` when the demo users exist already.
    """
    now = now or utcnow()
    existing = session.scalar(select(User.email).where(User.email.in_([u[0] for u in DEMO_USERS])))
    if existing is not None:
        raise Conflict(f"the demo data is loaded already (user {existing} exists)")
    gen = _Generator(seed, now)
    users = _create_users(session)
    _define_fields(session)
    cards = _plan_cards(gen, customers)
    rows = _write_customers(session, gen, cards, users)
    _write_relations(session, gen, cards, rows)
    staff = [u for u in users.values() if u.role != "admin"]
    _write_history(session, gen, cards, rows, staff)
    _write_tickets(session, gen, cards, rows, users)
    _create_queues(session, users)
    from hub.planning import load_demo_planning

    load_demo_planning(session, users, now=now)
    session.flush()
    return [(email, role) for email, role, _name, _teams in DEMO_USERS]


def _create_queues(session: Session, users: dict[str, User]) -> None:
    """Queues open round the clock, so the demo routes at any hour.

    Calls, mails, forms and faxes go to Service (the first queue) unless a rule or the IVR
    says otherwise; resellers' calls go to Sales.
    """
    from hub.routing import do_create_queue, do_create_routing_rule

    def agents_of(team: str) -> list[User]:
        return [
            u for u in users.values() if u.role == "agent" and any(t.name == team for t in u.teams)
        ]

    teams = {t.name: t for u in users.values() for t in u.teams}
    do_create_queue(
        session,
        name="Service",
        channels=["voice", "email", "webform", "fax"],
        timezone="Europe/Warsaw",
        sla_targets={
            "voice": {"seconds": 20, "percent": 80},
            "email": {"seconds": 4 * 3600, "percent": 90},
            "webform": {"seconds": 4 * 3600, "percent": 90},
            "fax": {"seconds": 8 * 3600, "percent": 90},
        },
        wrap_up_seconds=30,
        team_id=teams["Service"].id,
        members=agents_of("Service"),
    )
    sales = do_create_queue(
        session,
        name="Sales",
        channels=["voice", "email", "webform"],
        timezone="Europe/Warsaw",
        sla_targets={"voice": {"seconds": 30, "percent": 80}},
        wrap_up_seconds=30,
        team_id=teams["Sales"].id,
        members=agents_of("Sales"),
    )
    do_create_routing_rule(
        session, name="Resellers call Sales", queue=sales, position=10, customer_tag="reseller"
    )
    # The queues the demo IVR menus (channels/twilio_voice/demo_menus.toml) name besides
    # Sales and Service: callers who choose nothing, and voicemails to call back.
    do_create_queue(
        session,
        name="General",
        channels=["voice"],
        timezone="Europe/Warsaw",
        sla_targets={"voice": {"seconds": 30, "percent": 80}},
        wrap_up_seconds=30,
        members=[u for u in users.values() if u.role == "agent"],
    )
    do_create_queue(
        session,
        name="Voicemail",
        channels=["voice"],
        timezone="Europe/Warsaw",
        wrap_up_seconds=30,
        team_id=teams["Service"].id,
        members=agents_of("Service"),
    )


def _known_organisation_card(gen: _Generator) -> _Card:
    org = KNOWN_ORGANISATION
    card = _Card(country="PL", kind="organisation", organisation_name=org["name"], known=True)
    gen.place(card)
    card.city, card.address, card.timezone, card.area = (
        org["city"],
        org["address"],
        "Europe/Warsaw",
        "22",
    )
    card.phones.append((org["phone"], "office"))
    card.faxes.append(org["fax"])
    card.emails.append(org["email"])
    return card


def _plan_cards(gen: _Generator, total: int) -> list[_Card]:
    cards: list[_Card] = [_known_card(gen, k) for k in KNOWN_CUSTOMERS]
    # Anna Kowalska's husband shares the home line a household has; she works for a
    # transport company with a fax machine.
    anna = cards[0]
    marek = gen.person("PL", female=False, last_name="Kowalski", first_name="Marek")
    marek.city, marek.address, marek.timezone = anna.city, anna.address, anna.timezone
    home = gen.pl_landline("22")
    anna.phones.append((home, "home"))
    marek.phones.append((home, "home"))
    marek.spouse_of = 0
    cards.append(marek)
    cards.append(_known_organisation_card(gen))
    anna.works_for = len(cards) - 1
    if total < len(cards):
        cards = cards[:total]
        for card in cards:
            if card.spouse_of is not None and card.spouse_of >= total:
                card.spouse_of = None
            if card.works_for is not None and card.works_for >= total:
                card.works_for = None
    while len(cards) < total:
        country = gen.pick(["PL"] * 9 + ["GB"] * 6 + ["US"] * 5)
        if gen.chance(0.25):
            cards.append(gen.organisation(country))
            continue
        card = gen.person(country)
        cards.append(card)
        if len(cards) < total and gen.chance(0.12):
            partner = gen.person(
                country,
                female=not card.female,
                last_name=card.last_name if country != "PL" else _masculine(card.last_name or ""),
            )
            partner.city, partner.address, partner.timezone = card.city, card.address, card.timezone
            if gen.chance(0.5):
                home = gen.landline(card)
                card.phones.append((home, "home"))
                partner.phones.append((home, "home"))
            partner.spouse_of = len(cards) - 1
            cards.append(partner)
    return cards


def _masculine(last: str) -> str:
    for feminine, ending in (("dzka", "dzki"), ("cka", "cki"), ("ska", "ski")):
        if last.endswith(feminine):
            return last[: -len(feminine)] + ending
    return last


def _write_customers(
    session: Session, gen: _Generator, cards: list[_Card], users: dict[str, User]
) -> list[Customer]:
    rng = gen.rng
    managers = [u.name for u in users.values() if u.role in ("agent", "supervisor")]
    rows: list[Customer] = []
    for card in cards:
        person = card.kind == "person"
        fields: dict[str, Any] = {
            "kind": card.kind,
            "city": card.city,
            "country": card.country,
            "language": card.language,
            "timezone": card.timezone,
            "customer_class": gen.pick(CUSTOMER_CLASSES),
            "vip": gen.chance(0.06),
            "no_calls": gen.chance(0.07),
            "no_mail": gen.chance(0.09),
        }
        if person:
            fields["first_name"] = card.first_name
            fields["last_name"] = card.last_name
            if gen.chance(0.75):
                fields["birthday"] = dt.date(
                    rng.randint(1945, 2004), rng.randint(1, 12), rng.randint(1, 28)
                )
        else:
            fields["organisation_name"] = card.organisation_name
        tags = sorted({gen.pick(TAGS) for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))})
        if not person:
            tags = sorted({*tags, "b2b"})
        custom: dict[str, Any] = {"postal_address": card.address}
        if gen.chance(0.6):
            custom["loyalty_points"] = rng.randrange(0, 25_000, 10)
        if gen.chance(0.5):
            custom["contract_end"] = (gen.now + dt.timedelta(days=rng.randint(-60, 720))).date()
        if gen.chance(0.7):
            custom["preferred_contact"] = gen.pick(PREFERRED_CONTACT)
        custom["newsletter"] = gen.chance(0.4)
        if not person or gen.chance(0.2):
            custom["account_manager"] = gen.pick(managers)
        if card.known:
            fields.update(
                vip=True,
                customer_class="gold",
                no_calls=False,
                no_mail=False,
                birthday=dt.date(1984, 5, 17),
            )
            custom.update(
                loyalty_points=12_400,
                preferred_contact="phone",
                newsletter=True,
                account_manager=managers[0],
            )
            tags = ["key-account", "newsletter"]
        if custom.get("newsletter") and "newsletter" not in tags and gen.chance(0.5):
            tags = sorted({*tags, "newsletter"})
        contacts = [
            {"kind": "phone", "value": raw, "label": label, "is_primary": i == 0}
            for i, (raw, label) in enumerate(card.phones)
        ]
        contacts += [{"kind": "fax", "value": raw, "label": "fax"} for raw in card.faxes]
        contacts += [
            {"kind": "email", "value": e, "is_primary": i == 0} for i, e in enumerate(card.emails)
        ]
        # The action flushes each card itself (inside a savepoint); autoflushing before its
        # every lookup as well only repeats that work.
        with session.no_autoflush:
            customer = do_create_customer(
                session,
                fields=fields,
                contact_points=contacts,
                tags=tags,
                custom_fields=custom,
                region=card.country,
            )
        # Back-date the card so "customer since" looks lived-in (a seed import's history).
        customer.created_at = now_minus(gen, rng.randint(HISTORY_DAYS, 5 * 365))
        rows.append(customer)
    session.flush()
    return rows


def now_minus(gen: _Generator, days: int) -> dt.datetime:
    return gen.now - dt.timedelta(days=days, minutes=gen.rng.randint(0, 24 * 60))


def _write_relations(
    session: Session, gen: _Generator, cards: list[_Card], rows: list[Customer]
) -> None:
    orgs = {
        c: [i for i, card in enumerate(cards) if card.kind == "organisation" and card.country == c]
        for c in ("PL", "GB", "US")
    }
    contact_person_given: set[int] = set()
    for i, card in enumerate(cards):
        if card.spouse_of is not None:
            do_add_relation(session, rows[i], "spouse_of", rows[card.spouse_of])
        if card.works_for is not None:
            do_add_relation(session, rows[i], "works_for", rows[card.works_for])
            do_add_relation(session, rows[i], "contact_person_for", rows[card.works_for])
            contact_person_given.add(card.works_for)
        elif card.kind == "person" and orgs[card.country] and gen.chance(0.35):
            j = gen.pick(orgs[card.country])
            do_add_relation(session, rows[i], "works_for", rows[j])
            if j not in contact_person_given and gen.chance(0.6):
                contact_person_given.add(j)
                do_add_relation(session, rows[i], "contact_person_for", rows[j])
        if card.kind == "organisation" and len(orgs[card.country]) > 3 and gen.chance(0.15):
            parent = gen.pick(orgs[card.country])
            if parent != i:
                do_add_relation(session, rows[parent], "parent_company_of", rows[i])
        if i > 10 and gen.chance(0.03):
            do_add_relation(session, rows[i], "referred_by", rows[gen.rng.randrange(i)])


def _history_row(
    gen: _Generator,
    card: _Card,
    customer: Customer,
    staff: list[User],
    channel: str,
    when: dt.datetime,
) -> dict[str, Any]:
    rng = gen.rng
    lang = card.language
    agent = gen.pick(staff)
    phone = next((cp.value for cp in customer.contact_points if cp.kind == "phone"), None)
    email = next((cp.value for cp in customer.contact_points if cp.kind == "email"), None)
    fax = next((cp.value for cp in customer.contact_points if cp.kind == "fax"), None)
    row: dict[str, Any] = {
        "channel": channel,
        "direction": "inbound",
        "status": "closed",
        "external_id": None,
        "customer_id": customer.id,
        "ticket_id": None,
        "agent_id": agent.id,
        "from_address": None,
        "to_address": None,
        "subject": None,
        "body_text": None,
        "summary": None,
        "disposition": None,
        "payload": None,
        "created_at": when,
        "received_at": None,
        "started_at": None,
        "ended_at": None,
        "updated_at": when,
    }
    if channel == "voice":
        outbound = not card.no_calls and gen.chance(0.35)
        seconds = rng.randint(35, 900)
        note = gen.pick(CALL_NOTES[lang])
        row.update(
            external_id="CA" + gen.hexid(),
            started_at=when,
            ended_at=when + dt.timedelta(seconds=seconds),
            payload={"duration": seconds},
        )
        if outbound:
            row.update(
                direction="outbound",
                from_address=OUR_NUMBERS[card.country],
                to_address=phone,
                summary=note,
                body_text=note,
                disposition=gen.pick(["reached", "reached", "voicemail", "callback"]),
            )
        else:
            row.update(
                from_address=phone,
                to_address=OUR_NUMBERS[card.country],
                received_at=when,
                summary=note,
                body_text=note,
                disposition=gen.pick(["resolved", "resolved", "follow_up", "transferred"]),
            )
            if gen.chance(0.08):  # hung up in the queue: nobody answered
                row.update(
                    status="abandoned",
                    agent_id=None,
                    disposition=None,
                    summary=f"voice from {phone}",
                    body_text=None,
                    ended_at=when + dt.timedelta(seconds=rng.randint(5, 120)),
                    payload={"duration": 0, "queue_seconds": rng.randint(5, 120)},
                )
    elif channel == "email":
        subject = gen.pick(EMAIL_SUBJECTS[lang]).format(
            n=gen.next_serial(), month=MONTHS[lang][(when.month - 2) % 12]
        )
        outbound = not card.no_mail and gen.chance(0.4)
        ours = (
            OUR_SALES_EMAIL
            if subject.startswith(("Zapytanie", "Request"))
            else OUR_EMAIL[card.country]
        )
        if outbound:
            subject = f"Re: {subject}"
        body = gen.pick((REPLIES if outbound else CUSTOMER_MESSAGES)[lang])
        row.update(
            external_id=f"<{gen.hexid(96)}@mail.{'switchboard' if outbound else 'client'}.example>",
            subject=subject,
            body_text=body,
            summary=subject,
        )
        if outbound:
            row.update(direction="outbound", from_address=ours, to_address=email)
        else:
            row.update(from_address=email, to_address=ours, received_at=when)
    elif channel == "webform":
        subject = {"pl": "Formularz kontaktowy", "en": "Contact form"}[lang]
        message = gen.pick(CUSTOMER_MESSAGES[lang])
        row.update(
            external_id=f"form-{gen.hexid(64)}",
            from_address=email,
            subject=subject,
            body_text=message,
            summary=f"{subject}: {message}"[:500],
            received_at=when,
            payload={
                "form": "contact",
                "fields": {
                    "name": customer.display_name,
                    "email": email,
                    "phone": phone,
                    "message": message,
                },
            },
        )
    elif channel == "fax":
        pages = rng.randint(1, 6)
        row.update(
            external_id="FX" + gen.hexid(),
            from_address=fax or phone,
            to_address=OUR_FAX[card.country],
            received_at=when,
            subject={"pl": f"Faks, stron: {pages}", "en": f"Fax, {pages} pages"}[lang],
            summary={"pl": "Zamówienie faksem", "en": "Order by fax"}[lang],
            payload={"pages": pages},
        )
    else:  # note
        body = gen.pick(NOTES[lang])
        row.update(direction="internal", body_text=body, summary=body)
    return row


def _write_history(
    session: Session, gen: _Generator, cards: list[_Card], rows: list[Customer], staff: list[User]
) -> None:
    """Ninety days of past interactions, as one bulk insert.

    This is a seed import of what already happened, not live traffic, so it bypasses
    ``hub.intake.receive``: intake would commit once per event, identify customers we
    already know, stamp everything "now", and publish ``interaction.created`` so routing
    and the consoles would treat months-old calls as ringing. Live traffic goes through
    intake only.
    """
    history: list[dict[str, Any]] = []
    for card, customer in zip(cards, rows, strict=True):
        card.no_calls, card.no_mail = customer.no_calls, customer.no_mail
        count = gen.rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6, 8, 11])
        if card.known:
            count = 12
        channels = ["voice"] * 8 + ["note"] * 3
        if card.emails:
            channels += ["email"] * 6 + ["webform"] * 2
        if card.faxes:
            channels += ["fax"] * 3
        elif card.kind == "organisation":
            channels += ["fax"]  # a fax machine on the office line
        picks = [gen.pick(channels) for _ in range(count)]
        if card.known:  # every channel at least once on the cards the README names
            picks = ["voice", "email", "webform", "note"] + ["fax"] * bool(card.faxes) + picks
        for channel in picks:
            history.append(_history_row(gen, card, customer, staff, channel, gen.past()))
        if card.known:
            # The known customer's latest contact is a call the day before.
            history.append(
                _history_row(gen, card, customer, staff, "voice", gen.past(max_days=2, min_days=1))
            )
    if history:
        session.execute(insert(Interaction), history)


def _write_tickets(
    session: Session,
    gen: _Generator,
    cards: list[_Card],
    rows: list[Customer],
    users: dict[str, User],
) -> None:
    rng = gen.rng
    teams = {t.name: t for u in users.values() for t in u.teams}
    by_team = {
        name: [
            u for u in users.values() if u.role == "agent" and any(t.name == name for t in u.teams)
        ]
        for name in teams
    }
    # Anna Kowalska comes first and has an open ticket; then one of each other status.
    statuses = ["open", "new", "pending", "solved", "closed"]
    paths = {
        "new": [],
        "open": ["open"],
        "pending": ["open", "pending"],
        "solved": ["open", "solved"],
        "closed": ["open", "solved", "closed"],
    }
    count = max(len(statuses), len(rows) // 5) if rows else 0
    picks = list(range(len(rows)))
    rng.shuffle(picks)
    chosen = ([0] if rows else []) + [i for i in picks if i != 0][: max(0, count - 1)]
    for n, i in enumerate(chosen):
        card, customer = cards[i], rows[i]
        # Every status at least once, then a realistic mix (most tickets are done).
        status = (
            statuses[n]
            if n < len(statuses)
            else gen.pick(
                ["new", "open", "open", "pending", "solved", "solved", "closed", "closed", "closed"]
            )
        )
        ticket_type = gen.pick(["question", "question", "complaint", "incident", "request"])
        team_name = "Sales" if ticket_type == "request" else "Service"
        team = teams[team_name]
        assignee = gen.pick(by_team[team_name]) if status != "new" else None
        subject = gen.pick(TICKET_SUBJECTS[card.language][ticket_type]).format(n=gen.next_serial())
        opened = gen.past(max_days=60 if status in ("new", "open") else HISTORY_DAYS)
        if status == "new":
            opened = gen.past(max_days=3)
        ticket = do_create_ticket(
            session,
            subject=subject,
            customer_id=customer.id,
            priority=gen.pick(["low", "normal", "normal", "normal", "high", "urgent"]),
            ticket_type=ticket_type,
            team_id=team.id,
            assignee_id=assignee.id if assignee else None,
        )
        for step in paths[status]:
            do_update_ticket(
                session, ticket, {"status": step}, user_id=assignee.id if assignee else None
            )
        author = assignee or gen.pick(by_team[team_name])
        notes = [
            do_add_note(session, body=gen.pick(NOTES[card.language]), author=author, ticket=ticket)
        ]
        if status in ("pending", "solved", "closed") or gen.chance(0.5):
            notes.append(
                do_add_note(
                    session, body=gen.pick(CALL_NOTES[card.language]), author=author, ticket=ticket
                )
            )
        # The contact that opened the ticket, part of the customer's history.
        first = _history_row(
            gen,
            card,
            customer,
            [author],
            gen.pick(["voice", "email", "email", "webform"] if card.emails else ["voice"]),
            opened,
        )
        first.update(
            ticket_id=ticket.id,
            direction="inbound",
            status="closed",
            subject=subject,
            summary=subject,
        )
        if first["channel"] == "voice":
            first.update(
                from_address=next(
                    (c.value for c in customer.contact_points if c.kind == "phone"), None
                ),
                to_address=OUR_NUMBERS[card.country],
                received_at=opened,
                agent_id=author.id,
                disposition="ticket_opened",
            )
        elif first["channel"] == "email":
            first.update(
                from_address=card.emails[0], to_address=OUR_EMAIL[card.country], received_at=opened
            )
        session.execute(insert(Interaction), [first])
        # Back-date the ticket's life to fit the history (a seed import, as above).
        last = opened
        for note in notes:
            last = min(gen.now, last + dt.timedelta(hours=rng.randint(1, 72)))
            note.created_at = note.updated_at = last
        ticket.created_at = opened
        ticket.first_responded_at = notes[0].created_at if status != "new" else None
        ticket.due_at = opened + dt.timedelta(days=3)
        if status in ("solved", "closed"):
            ticket.solved_at = last
        if status == "closed":
            ticket.closed_at = min(gen.now, last + dt.timedelta(days=rng.randint(1, 7)))
        ticket.updated_at = ticket.closed_at or last
    session.flush()


__all__ = ["DEFAULT_SEED", "DEMO_PASSWORD", "DEMO_USERS", "KNOWN_CUSTOMERS", "load_demo"]
