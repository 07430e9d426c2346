"""Customer search benchmark: one tenant with 100,000 customers, at the database and over HTTP.

    .venv/bin/python bench/customers.py [--customers 100000] [--queries 300] [--keep]

Builds a fresh database (BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_customers), migrates it, provisions
a tenant, seeds it with COPY (names drawn from common Moroccan and French first and last
names, accents included, so a last name matches about 1% of the customers; unique mobile
numbers; emails for about 70%), VACUUM ANALYZEs, then measures, for each kind of query:

- sql: the statements `GET /customers` runs (the page of 20 with visit stats, carrying the
  total or followed by a count), compiled beforehand, on one raw psycopg connection: the
  database and the wire, nothing else;
- service: `search_customers` through the app's session, one transaction each (pool
  checkout, search_path, plan_cache_mode, ORM loading);
- http: `GET /api/v1/customers?q=...` through the Flask test client with an owner token
  (routing, JWT, membership and tenant lookups, serialisation).
The three take turns on each query, so load from elsewhere on the machine falls on all alike.

Query kinds: last names and first names (1-2 % of customers each), broad 3-4 letter
fragments (5-10 %), a fragment matching nothing, a phone suffix of 6-9 digits, a whole
national number, a partial email, a 1-2 letter prefix, a tag, and the unfiltered list
(pages 1 and 50). Targets: p95 at most 20 ms at the database and 40 ms over HTTP. The
database is dropped afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import drop_database, recreate_database  # noqa: E402  (bench/common.py)

from bookme import create_app  # noqa: E402
from bookme.config import Settings  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_customers",
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
SECRET = "bench-secret-" + "x" * 40

FIRST = tuple(
    [
        "Mohammed",
        "Ahmed",
        "Youssef",
        "Karim",
        "Omar",
        "Hamza",
        "Mehdi",
        "Amine",
        "Anas",
        "Ayoub",
        "Bilal",
        "Hicham",
        "Rachid",
        "Said",
        "Khalid",
        "Nabil",
        "Othmane",
        "Reda",
        "Soufiane",
        "Zakaria",
        "Fatima",
        "Khadija",
        "Salma",
        "Yasmïne",
        "Imane",
        "Meryem",
        "Nadia",
        "Sanaa",
        "Hajar",
        "Houda",
        "Asmae",
        "Loubna",
        "Ghita",
        "Kenza",
        "Zineb",
        "Aïcha",
        "Hafsa",
        "Nora",
        "Samira",
        "Latifa",
        "Élodie",
        "Chloé",
        "Léa",
        "Camille",
        "Inès",
        "Sarah",
        "Hélène",
        "Jérôme",
        "Rémi",
        "Noël",
    ]
)
LAST = tuple(
    [
        "Alaoui",
        "El Idrissi",
        "Bennani",
        "Tazi",
        "Berrada",
        "El Fassi",
        "Chraïbi",
        "Benjelloun",
        "Lahlou",
        "Sqalli",
        "Amrani",
        "Cherkaoui",
        "El Amrani",
        "Bouzidi",
        "Benkirane",
        "Filali",
        "Kettani",
        "Naciri",
        "Ouazzani",
        "Sebti",
        "Skalli",
        "Squalli",
        "Tahiri",
        "Zniber",
        "Bensouda",
        "Guessous",
        "Hajji",
        "Jettou",
        "Lamrani",
        "Mansouri",
        "Mernissi",
        "Raji",
        "Saadi",
        "Slaoui",
        "Temsamani",
        "Yacoubi",
        "Ziani",
        "Benali",
        "Belkhayat",
        "Bekkali",
        "Daoudi",
        "El Ouardi",
        "Fassi Fihri",
        "Ghazali",
        "Hassani",
        "Iraqi",
        "Jaidi",
        "Kabbaj",
        "Laraki",
        "Mekouar",
        "Moussaoui",
        "Nejjar",
        "Ouali",
        "Rifai",
        "Sefrioui",
        "Tounsi",
        "Wahbi",
        "Zemmouri",
        "Aït Taleb",
        "Aït Lahcen",
        "Bouhaddou",
        "Chaoui",
        "Drissi",
        "Essafi",
        "Fikri",
        "Gharbi",
        "Harrak",
        "Idrissi",
        "Jamaï",
        "Khattabi",
        "Lazrak",
        "Madani",
        "Nouri",
        "Ouhadi",
        "Qadiri",
        "Rhazi",
        "Sabri",
        "Tazi Mokha",
        "Uzan",
        "Martin",
        "Dubois",
        "Lefèvre",
    ]
)
DOMAINS = ("gmail.com", "hotmail.fr", "yahoo.fr", "outlook.com", "menara.ma", "example.ma")
TAGS = ("vip", "kids", "new", "regular", "student", "late")


def ascii_fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()


def make_customers(count: int, rng: random.Random) -> list[tuple[str, str, str | None, str]]:
    """(full_name, phone, email, tags literal) rows; phones unique, emails unique."""
    numbers = rng.sample(range(10_000_000, 100_000_000), count)
    rows = []
    for i, number in enumerate(numbers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        phone = f"+212{rng.choice('67')}{number}"
        email = None
        if rng.random() < 0.7:
            local = ascii_fold(f"{first}.{last}").replace(" ", "")
            email = f"{local}{i}@{rng.choice(DOMAINS)}"
        tags = [t for t in TAGS if rng.random() < 0.05]
        rows.append((f"{first} {last}", phone, email, "{" + ",".join(tags) + "}"))
    return rows


def seed(app: Any, schema: str, rows: list[tuple[str, str, str | None, str]]) -> float:
    from bookme.extensions import db

    started = time.perf_counter()
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            copy_sql = (
                f'COPY "{schema}".customers (full_name, phone, email, tags, consent_sms, '
                "consent_sms_changed_at, consent_sms_source) FROM STDIN"
            )
            with cursor.copy(copy_sql) as copy:
                for name, phone, email, tags in rows:
                    copy.write_row((name, phone, email, tags, None, None, None))
            raw.commit()
        finally:
            raw.close()
        engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'VACUUM ANALYZE "{schema}".customers')
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def query_sets(
    rows: list[tuple[str, str, str | None, str]], n: int, rng: random.Random
) -> dict[str, list[dict[str, Any]]]:
    last_names = ["idrissi", "bennani", "el fassi", "chraibi", "lahlou", "ait taleb", "fihri"]
    first_names = ["yasmine", "aicha", "zineb", "meryem", "helene", "jerome", "khadija"]
    with_email = [r for r in rows if r[2]]

    def email_fragment() -> str:
        email = rng.choice(with_email)[2] or ""
        return email[: email.index("@") + 3]

    return {
        "last-name": [{"q": rng.choice(last_names)} for _ in range(n)],
        "first-name": [{"q": rng.choice(first_names)} for _ in range(n)],
        "name-broad": [{"q": rng.choice(["ali", "moha", "ben", "fat"])} for _ in range(n)],
        "name-no-match": [{"q": rng.choice(rows)[0].split()[0][:5] + "qx"} for _ in range(n)],
        "phone-suffix": [{"q": rng.choice(rows)[1][-rng.randint(6, 9) :]} for _ in range(n)],
        "phone-national": [{"q": "0" + rng.choice(rows)[1][4:]} for _ in range(n)],
        "email": [{"q": email_fragment()} for _ in range(n)],
        "prefix-1-2": [
            {"q": rng.choice("abcdefghiklmnorstyz") + rng.choice(["", "a", "e", "o"])}
            for _ in range(n)
        ],
        "tag": [{"tag": rng.choice(TAGS)} for _ in range(n)],
        "no-filter": [{} for _ in range(n)],
        "no-filter-page-50": [{"page": 50} for _ in range(n)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    rng = random.Random(20270301)

    recreate_database(DATABASE_URL)
    settings = Settings.from_env(
        {},
        env="testing",
        database_url=DATABASE_URL,
        redis_url=REDIS_URL,
        secret_key=SECRET,
        jwt_secret_key=SECRET,
        log_json=False,
        ratelimit_enabled=False,
    )
    app = create_app(settings)
    try:
        run(app, args, rng)
    finally:
        from bookme.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep:
            drop_database(DATABASE_URL)


def provision(app: Any) -> tuple[Any, str]:
    from flask_migrate import upgrade

    from bookme.extensions import db
    from bookme.tenants.service import create_tenant, to_ref
    from bookme.users.models import User
    from bookme.users.passwords import hash_password
    from bookme.users.tokens import issue_tokens

    with app.app_context():
        upgrade()
        owner = User(
            email="owner@bench.example.com",
            full_name="Owner",
            password_hash=hash_password("bench password 123"),
        )
        db.session.add(owner)
        db.session.flush()
        tenant = create_tenant(slug="bench-salon", name="Bench Salon", owner_id=owner.id)
        ref = to_ref(tenant)
        token = issue_tokens(owner)["access_token"]
        db.session.commit()
    return ref, token


def statements(params: dict[str, Any], dialect: Any) -> list[tuple[str, dict[str, Any]]]:
    """The statements `GET /customers` runs for `params`, compiled for psycopg."""
    from bookme.customers import service

    tags = [params["tag"]] if "tag" in params else ()
    page, carries_total = service.search_page_statement(
        q=params.get("q"), tags=tags, page=params.get("page", 1), page_size=20
    )
    stmts = [page]
    if not carries_total:
        stmts.append(service.search_count_statement(q=params.get("q"), tags=tags))
    compiled = [stmt.compile(dialect=dialect) for stmt in stmts]
    return [(c.string, c.params) for c in compiled]


def show_plans(app: Any, ref: Any, sets: dict[str, list[dict[str, Any]]]) -> None:
    from bookme.core import tenancy
    from bookme.core.db import session
    from bookme.customers import service
    from bookme.extensions import db

    print("\nplans (EXPLAIN ANALYZE of the page query, first sample of each kind):")
    with app.app_context():
        tenancy.activate(ref)
        for kind, params_list in sets.items():
            params = params_list[0]
            tags = [params["tag"]] if "tag" in params else ()
            stmt, _ = service.search_page_statement(q=params.get("q"), tags=tags)
            sql = str(
                stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
            ).replace("%%", "%")
            cursor = session().connection().connection.dbapi_connection.cursor()
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}")
            plan = [r[0] for r in cursor.fetchall()]
            session().rollback()
            scans = [
                line.strip().removeprefix("->  ")
                for line in plan
                if "Scan" in line and "bookings" not in line
            ]
            took = next(line for line in plan if line.startswith("Execution Time"))
            print(f"  {kind:<18} {params!s:<32} {took:<26} {'; '.join(scans)}")
        tenancy.activate(None)


def run(app: Any, args: argparse.Namespace, rng: random.Random) -> None:
    from flask_smorest.pagination import PaginationParameters

    from bookme.core import tenancy
    from bookme.core.db import session
    from bookme.customers import service
    from bookme.extensions import db

    ref, token = provision(app)
    rows = make_customers(args.customers, rng)
    seconds = seed(app, ref.schema, rows)
    print(f"seeded {len(rows):,} customers in {seconds:.1f} s (COPY + VACUUM ANALYZE)")
    sets = query_sets(rows, args.queries, rng)
    show_plans(app, ref, sets)

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "X-Tenant": ref.slug}
    samples: dict[str, dict[str, list[float]]] = {}
    matches: dict[str, list[int]] = {}

    with app.app_context():
        raw = db.engine.raw_connection()
        cursor = raw.cursor()
        cursor.execute(f'SET search_path TO "{ref.schema}", public')
        # The planner settings search_customers makes for its own transaction.
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.execute("SET random_page_cost = 1.1")
        raw.commit()
        try:
            for kind, params_list in sets.items():
                compiled = [statements(p, db.engine.dialect) for p in params_list]
                layers = {"sql": [], "service": [], "http": []}
                counts = []
                for index, (params, sqls) in enumerate(zip(params_list, compiled, strict=True)):
                    # The three layers take turns on each query, so load from elsewhere on
                    # the machine falls on all of them alike; the first five only warm up.
                    started = time.perf_counter()
                    for sql, sql_params in sqls:
                        cursor.execute(sql, sql_params)
                        cursor.fetchall()
                    raw.rollback()
                    sql_ms = (time.perf_counter() - started) * 1000

                    tenancy.activate(ref)
                    page = PaginationParameters(params.get("page", 1), 20)
                    started = time.perf_counter()
                    service.search_customers(
                        tenant=ref,
                        q=params.get("q"),
                        tags=[params["tag"]] if "tag" in params else (),
                        pagination=page,
                    )
                    session().rollback()
                    service_ms = (time.perf_counter() - started) * 1000
                    tenancy.activate(None)
                    counts.append(page.item_count or 0)

                    started = time.perf_counter()
                    response = client.get("/api/v1/customers", query_string=params, headers=headers)
                    http_ms = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(response.get_data(as_text=True))
                    if index >= 5:
                        layers["sql"].append(sql_ms)
                        layers["service"].append(service_ms)
                        layers["http"].append(http_ms)
                samples[kind] = layers
                matches[kind] = counts
        finally:
            raw.close()

    print(
        f"\nsearch latency at {args.customers:,} customers, {args.queries} queries per kind "
        "(page of 20 + total), ms"
    )
    print("  sql:     the two statements on a raw psycopg connection: the database and the wire")
    print("  service: search_customers through the app session, one transaction each")
    print("  http:    GET /api/v1/customers through the Flask test client, owner token")
    header = f"{'kind':<19}{'matches':>8}"
    for layer in ("sql", "service", "http"):
        header += f"{layer + ' p50':>13}{layer + ' p95':>13}"
    print(header)
    worst = {"sql": 0.0, "service": 0.0, "http": 0.0}
    for kind, layers in samples.items():
        line = f"{kind:<19}{int(statistics.median(matches[kind])):>8,}"
        for layer in ("sql", "service", "http"):
            p50, p95, _ = percentiles(layers[layer])
            worst[layer] = max(worst[layer], p95)
            line += f"{p50:>13.2f}{p95:>13.2f}"
        print(line)
    print(
        f"\nworst p95: database {worst['sql']:.2f} ms, through the app session "
        f"{worst['service']:.2f} ms (target <= 20); HTTP {worst['http']:.2f} ms (target <= 40)"
    )


if __name__ == "__main__":
    main()
