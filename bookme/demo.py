"""A realistic demo business: a salon, barber and hammam in Casablanca.

3 categories, 12 services priced in MAD, 8 staff on split shifts (a long lunch, a longer one
on Fridays), a week of date overrides, time off and a public-holiday closure. Used by
`make run` (`flask bookme demo seed`) and by the benchmarks, which call `seed_business`
for as many tenants as they need.
"""

from __future__ import annotations

import uuid
import zlib
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bookme.core import tenancy
from bookme.core.db import session, transactional
from bookme.services.models import Service, ServiceCategory
from bookme.staff.models import (
    Closure,
    DateOverride,
    DateOverrideInterval,
    Staff,
    TimeOff,
    WorkingHours,
)

DEMO_SLUG = "demo"
DEMO_NAME = "Dar Yasmine, coiffure, barbier et hammam"
DEMO_EMAIL = "owner@example.com"
DEMO_PASSWORD = "demo-owner-password"  # noqa: S105 - printed to the developer on purpose
MANAGER_EMAIL = "manager@example.com"

CATEGORIES = [("Coiffure", 0), ("Barbier", 1), ("Hammam & Spa", 2)]

# name, category, minutes, MAD, extra columns, Arabic and English names (metadata)
SERVICES: list[tuple[str, str, int, str, dict[str, Any], str, str]] = [
    (
        "Coupe femme",
        "Coiffure",
        45,
        "150.00",
        {"buffer_after_minutes": 10},
        "قص الشعر للنساء",
        "Women's haircut",
    ),
    ("Brushing", "Coiffure", 30, "100.00", {}, "تصفيف الشعر", "Blow-dry"),
    (
        "Coloration",
        "Coiffure",
        120,
        "450.00",
        {"buffer_after_minutes": 15, "slot_interval_minutes": 30},
        "صباغة الشعر",
        "Colouring",
    ),
    (
        "Soin kératine",
        "Coiffure",
        180,
        "900.00",
        {"slot_interval_minutes": 30, "min_notice_minutes": 1440},
        "علاج بالكيراتين",
        "Keratin treatment",
    ),
    ("Coupe homme", "Barbier", 30, "80.00", {}, "حلاقة الرجال", "Men's haircut"),
    (
        "Taille de barbe",
        "Barbier",
        20,
        "50.00",
        {"slot_interval_minutes": 10},
        "تشذيب اللحية",
        "Beard trim",
    ),
    ("Coupe et barbe", "Barbier", 45, "120.00", {}, "حلاقة ولحية", "Haircut and beard"),
    (
        "Rasage traditionnel",
        "Barbier",
        30,
        "70.00",
        {"buffer_after_minutes": 5},
        "حلاقة تقليدية",
        "Traditional shave",
    ),
    (
        "Hammam traditionnel",
        "Hammam & Spa",
        60,
        "200.00",
        {"buffer_before_minutes": 10, "buffer_after_minutes": 20},
        "حمام تقليدي",
        "Traditional hammam",
    ),
    (
        "Gommage au savon noir",
        "Hammam & Spa",
        45,
        "180.00",
        {"buffer_after_minutes": 10},
        "تقشير بالصابون البلدي",
        "Black-soap scrub",
    ),
    (
        "Massage à l'huile d'argan",
        "Hammam & Spa",
        60,
        "350.00",
        {"buffer_after_minutes": 15},
        "تدليك بزيت الأركان",
        "Argan-oil massage",
    ),
    ("Henné", "Hammam & Spa", 90, "250.00", {"max_advance_days": 90}, "نقش الحناء", "Henna"),
]

# Split shifts. Weekdays are ISO (1 = Monday); Friday's lunch is longer (prayer).
SALON = {
    **{d: [("09:30", "13:00"), ("14:30", "19:30")] for d in (1, 2, 3, 4, 6)},
    5: [("09:30", "12:30"), ("15:00", "19:30")],
}
EVENINGS = {
    **{d: [("10:00", "14:00"), ("16:00", "21:00")] for d in (2, 3, 4, 6)},
    5: [("10:00", "12:30"), ("15:30", "21:00")],
    7: [("10:00", "14:00")],
}
SPA = {
    **{d: [("09:00", "12:30"), ("13:30", "18:00")] for d in (1, 2, 3, 4, 6)},
    5: [("09:00", "12:00"), ("15:00", "18:00")],
}

# display name, services performed, weekly hours, demo login (email, role) or None
STAFF: list[tuple[str, list[str], dict[int, list[tuple[str, str]]], tuple[str, str] | None]] = [
    (
        "Nadia Benali",
        ["Coupe femme", "Brushing", "Coloration", "Soin kératine"],
        SALON,
        ("nadia@example.com", "staff"),
    ),
    ("Salma El Idrissi", ["Coupe femme", "Brushing", "Coloration", "Henné"], EVENINGS, None),
    ("Khadija Amrani", ["Coupe femme", "Brushing", "Soin kératine"], SALON, None),
    (
        "Youssef Alaoui",
        ["Coupe homme", "Taille de barbe", "Coupe et barbe", "Rasage traditionnel"],
        SALON,
        None,
    ),
    ("Hamza Tazi", ["Coupe homme", "Taille de barbe", "Coupe et barbe"], EVENINGS, None),
    (
        "Fatima Zahra Bennani",
        ["Hammam traditionnel", "Gommage au savon noir", "Massage à l'huile d'argan"],
        SPA,
        None,
    ),
    (
        "Imane Chraibi",
        ["Hammam traditionnel", "Gommage au savon noir", "Massage à l'huile d'argan", "Henné"],
        SPA,
        None,
    ),
    (
        "Rachid Berrada",
        ["Coupe homme", "Rasage traditionnel", "Massage à l'huile d'argan"],
        EVENINGS,
        None,
    ),
]

# A week of overrides, from the Monday after the seed: (staff, day of that week 0-6, intervals)
OVERRIDES: list[tuple[str, int, list[tuple[str, str]]]] = [
    ("Hamza Tazi", 0, [("10:00", "12:00"), ("17:00", "21:00")]),
    ("Salma El Idrissi", 1, [("08:00", "12:00"), ("13:00", "16:00")]),
    ("Nadia Benali", 2, []),
    ("Fatima Zahra Bennani", 3, [("12:00", "20:00")]),
    ("Imane Chraibi", 4, []),
    ("Youssef Alaoui", 5, [("09:00", "13:00")]),
    ("Khadija Amrani", 6, [("10:00", "14:00")]),
]

# Fixed-date public holidays in Morocco (the religious ones move with the lunar calendar).
HOLIDAYS = [
    ((1, 1), "Nouvel an"),
    ((1, 11), "Manifeste de l'Indépendance"),
    ((1, 14), "Nouvel an amazigh"),
    ((5, 1), "Fête du Travail"),
    ((7, 30), "Fête du Trône"),
    ((8, 14), "Allégeance Oued Eddahab"),
    ((8, 20), "Révolution du Roi et du Peuple"),
    ((8, 21), "Fête de la Jeunesse"),
    ((11, 6), "Marche Verte"),
    ((11, 18), "Fête de l'Indépendance"),
]


@dataclass
class SeedResult:
    slug: str
    created: bool
    service_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    staff_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (email, password, role)


def _minutes(hhmm: str) -> int:
    hours, _, mins = hhmm.partition(":")
    return int(hours) * 60 + int(mins)


def next_holiday(after: date) -> tuple[date, str]:
    """The first fixed-date public holiday on or after `after`."""
    candidates = [
        (date(after.year + extra, month, day), name)
        for extra in (0, 1)
        for (month, day), name in HOLIDAYS
    ]
    return min((c for c in candidates if c[0] >= after), key=lambda c: c[0])


def seed_business(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    accounts: bool = False,
    password: str = DEMO_PASSWORD,
) -> SeedResult:
    """Load the demo catalog and schedules into `tenant`; a tenant with a catalog is left as is.

    One transaction. Dates are relative to `now` in the tenant's zone (the overrides cover
    the week from the next Monday). With `accounts`, a manager and one staff member get
    logins (password hashing makes that slow, so benchmarks leave it off).
    """
    with tenancy.using(tenant):
        return transactional(_seed_business)(tenant, now, accounts, password)


def _seed_business(
    tenant: tenancy.TenantRef, now: datetime, accounts: bool, password: str
) -> SeedResult:
    sess = session()
    result = SeedResult(slug=tenant.slug, created=False)
    if sess.scalar(sa.select(sa.func.count()).select_from(ServiceCategory)):
        result.service_ids = dict(sess.execute(sa.select(Service.name, Service.id)).all())
        result.staff_ids = dict(sess.execute(sa.select(Staff.display_name, Staff.id)).all())
        if accounts:
            result.logins = _existing_logins(tenant, password)
        return result
    result.created = True
    zone = zoneinfo.ZoneInfo(tenant.timezone)

    categories = {name: ServiceCategory(name=name, position=pos) for name, pos in CATEGORIES}
    sess.add_all(categories.values())
    services: dict[str, Service] = {}
    for name, category, minutes, price, extra, name_ar, name_en in SERVICES:
        services[name] = Service(
            name=name,
            category=categories[category],
            description=f"{name} ({name_en}).",
            duration_minutes=minutes,
            price=Decimal(price),
            currency=tenant.currency,
            metadata_={"name_ar": name_ar, "name_en": name_en},
            **{
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 0,
                "slot_interval_minutes": 15,
                "min_notice_minutes": 60,
                "max_advance_days": 60,
                **extra,
            },
        )
    sess.add_all(services.values())

    logins: dict[str, tuple[str, str]] = {}
    if accounts:
        logins = {display: login for display, _, _, login in STAFF if login is not None}
    staff: dict[str, Staff] = {}
    for display, performs, _hours, _account_spec in STAFF:
        slug_name = display.lower().split()[0]
        member = Staff(
            display_name=display,
            email=f"{slug_name}@{tenant.slug}.example.com",
            phone=f"+2126{zlib.crc32(f'{tenant.slug}/{display}'.encode()) % 10**8:08d}",
            services=[services[s] for s in performs],
        )
        if display in logins:
            email, role = logins[display]
            user, usable = _account(email, display, password, now)
            _member(tenant.id, user, role)
            member.user_id = user.id
            result.logins.append(_login(email, password, role, usable))
        staff[display] = member
    sess.add_all(staff.values())
    sess.flush()
    for display, _, hours, _ in STAFF:
        sess.add_all(
            WorkingHours(
                staff_id=staff[display].id,
                weekday=weekday,
                start_minute=_minutes(start),
                end_minute=_minutes(end),
            )
            for weekday, intervals in hours.items()
            for start, end in intervals
        )
    if accounts:
        user, usable = _account(MANAGER_EMAIL, "Leila Manager", password, now)
        _member(tenant.id, user, "manager")
        result.logins.append(_login(user.email, password, "manager", usable))

    today = now.astimezone(zone).date()
    monday = today + timedelta(days=7 - today.weekday())

    def at(day: date, hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=zone)

    for display, offset, intervals in OVERRIDES:
        day = monday + timedelta(days=offset)
        override = DateOverride(staff_id=staff[display].id, day=day)
        override.intervals = [
            DateOverrideInterval(
                staff_id=staff[display].id,
                day=day,
                start_minute=_minutes(s),
                end_minute=_minutes(e),
            )
            for s, e in intervals
        ]
        sess.add(override)

    holiday, holiday_name = next_holiday(monday + timedelta(days=7))
    sess.add_all(
        [
            TimeOff(
                staff_id=staff["Salma El Idrissi"].id,
                starts_at=at(monday + timedelta(days=14), "00:00"),
                ends_at=at(monday + timedelta(days=17), "00:00"),
                reason="Congé annuel",
            ),
            TimeOff(
                staff_id=staff["Rachid Berrada"].id,
                starts_at=at(monday + timedelta(days=8), "10:00"),
                ends_at=at(monday + timedelta(days=8), "12:30"),
                reason="Rendez-vous médical",
            ),
            Closure(
                starts_at=at(holiday, "00:00"),
                ends_at=at(holiday + timedelta(days=1), "00:00"),
                reason=holiday_name,
            ),
        ]
    )
    sess.flush()
    result.service_ids = {name: s.id for name, s in services.items()}
    result.staff_ids = {name: s.id for name, s in staff.items()}
    return result


def _account(email: str, full_name: str, password: str, now: datetime) -> tuple[Any, bool]:
    """The account `email`, created (verified) when new; True when `password` signs it in."""
    from bookme.users.models import User
    from bookme.users.passwords import hash_password, verify_password

    sess = session()
    user = sess.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))
    if user is not None:
        return user, verify_password(user.password_hash, password)
    user = User(
        email=email,
        full_name=full_name,
        password_hash=hash_password(password),
        email_verified_at=now,
    )
    sess.add(user)
    sess.flush()
    return user, True


def _existing_logins(tenant: tenancy.TenantRef, password: str) -> list[tuple[str, str, str]]:
    """The demo's manager and staff logins in an already seeded `tenant`."""
    from bookme.users.models import Membership, User
    from bookme.users.passwords import verify_password

    emails = [MANAGER_EMAIL, *(spec[0] for *_, spec in STAFF if spec is not None)]
    rows = session().execute(
        sa.select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id, sa.func.lower(User.email).in_(emails))
        .order_by(Membership.role.desc(), User.email)
    )
    return [
        _login(user.email, password, role, verify_password(user.password_hash, password))
        for user, role in rows
    ]


def _member(tenant_id: uuid.UUID, user: Any, role: str) -> None:
    from bookme.users.models import Membership

    sess = session()
    found = sess.scalar(
        sa.select(Membership.id).where(
            Membership.tenant_id == tenant_id, Membership.user_id == user.id
        )
    )
    if found is None:
        sess.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role))
        sess.flush()


def _login(email: str, password: str, role: str, usable: bool) -> tuple[str, str, str]:
    return (email, password if usable else "(an existing account with another password)", role)


def owner_email(slug: str) -> str:
    return DEMO_EMAIL if slug == DEMO_SLUG else f"owner+{slug}@example.com"


def seed(
    *,
    slug: str = DEMO_SLUG,
    now: datetime,
    name: str = DEMO_NAME,
    password: str = DEMO_PASSWORD,
    accounts: bool = True,
) -> SeedResult:
    """The demo tenant `slug`, its owner (`owner_email(slug)`) and its business; idempotent."""
    from bookme.tenants import service as tenants

    email = owner_email(slug)

    @transactional
    def provision() -> tuple[tenancy.TenantRef, bool, bool]:
        owner, new_owner = _account(email, "Yasmine Alami", password, now)
        existing = tenants.get_by_slug(slug)
        if existing is not None:
            _member(existing.id, owner, "owner")
            return tenants.to_ref(existing), False, new_owner
        tenant = tenants.create_tenant(
            slug=slug, name=name, owner_id=owner.id, actor="demo seed", now=now
        )
        return tenants.to_ref(tenant), True, new_owner

    ref, new_tenant, new_owner = provision()
    result = seed_business(tenant=ref, now=now, accounts=accounts, password=password)
    result.created = result.created or new_tenant
    result.logins.insert(0, _login(email, password, "owner", new_owner))
    return result
