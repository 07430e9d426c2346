"""The demo business: what it holds, that it fits the schedule rules, and that it loads once."""

from datetime import UTC, date, datetime

import sqlalchemy as sa

from bookme import demo
from bookme.core.db import session
from bookme.staff.models import Closure, DateOverride, Staff, TimeOff, WorkingHours
from tests.conftest import access_token
from tests.factories import use_tenant

NOW = datetime(2027, 4, 14, 10, 0, tzinfo=UTC)  # a Wednesday


def count(table):
    return session().execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_the_demo_business_is_realistic(tenant):
    ref = use_tenant(tenant)
    result = demo.seed_business(tenant=ref, now=NOW)
    assert result.created
    use_tenant(tenant)
    assert count("service_categories") == 3
    assert count("services") == 12
    assert count("staff") == 8
    assert len(result.service_ids) == 12 and len(result.staff_ids) == 8
    assert session().execute(sa.text("SELECT DISTINCT currency FROM services")).scalars().all() == [
        "MAD"
    ]
    # Every service has someone to perform it.
    unstaffed = session().execute(
        sa.text("SELECT count(*) FROM services s WHERE NOT EXISTS "
                "(SELECT 1 FROM staff_services x WHERE x.service_id = s.id)")
    ).scalar_one()  # fmt: skip
    assert unstaffed == 0
    # Split shifts: everyone works two intervals on some day.
    for staff in session().scalars(sa.select(Staff)):
        per_day: dict[int, int] = {}
        for row in session().scalars(
            sa.select(WorkingHours).where(WorkingHours.staff_id == staff.id)
        ):
            per_day[row.weekday] = per_day.get(row.weekday, 0) + 1
        assert max(per_day.values()) >= 2, staff.display_name
    # A week of overrides from the next Monday (19 April 2027), one of them a day off.
    days = sorted(o.day for o in session().scalars(sa.select(DateOverride)))
    assert days == [date(2027, 4, d) for d in range(19, 26)]
    assert any(not o.intervals for o in session().scalars(sa.select(DateOverride)))
    assert count("time_off") == 2
    closure = session().scalars(sa.select(Closure)).one()
    assert closure.reason == "Fête du Travail"  # 1 May, the first fixed holiday after that week
    assert closure.starts_at == datetime(2027, 4, 30, 23, 0, tzinfo=UTC)
    assert all(t.starts_at < t.ends_at for t in session().scalars(sa.select(TimeOff)))


def test_seeding_twice_changes_nothing(tenant):
    ref = use_tenant(tenant)
    first = demo.seed_business(tenant=ref, now=NOW)
    again = demo.seed_business(tenant=ref, now=datetime(2027, 6, 1, tzinfo=UTC))
    assert not again.created
    assert again.service_ids == first.service_ids
    assert again.staff_ids == first.staff_ids
    use_tenant(tenant)
    assert count("date_overrides") == 7
    assert count("closures") == 1


def test_the_next_holiday_wraps_into_the_next_year():
    assert demo.next_holiday(date(2027, 11, 19)) == (date(2028, 1, 1), "Nouvel an")
    assert demo.next_holiday(date(2027, 11, 18)) == (date(2027, 11, 18), "Fête de l'Indépendance")


def test_the_seed_command_prints_logins_that_work(app, client, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["bookme", "demo", "seed", "--slug", "demo-cli"])
    assert result.exit_code == 0, result.output
    assert "demo business created: tenant 'demo-cli'" in result.output
    assert "demo owner login: owner+demo-cli@example.com / demo-owner-password" in result.output
    assert "demo staff login: nadia@example.com / demo-owner-password" in result.output
    assert "demo manager login: manager@example.com" in result.output

    from bookme.users.models import User

    nadia_user = session().scalars(sa.select(User).where(User.email == "nadia@example.com")).one()
    headers = {"Authorization": f"Bearer {access_token(nadia_user)}", "X-Tenant": "demo-cli"}
    listed = client.get("/api/v1/staff", headers=headers)
    assert listed.status_code == 200
    mine = next(s for s in listed.get_json() if s["user_id"] == str(nadia_user.id))
    hours = client.get(f"/api/v1/staff/{mine['id']}/working-hours", headers=headers)
    assert hours.status_code == 200
    assert len(hours.get_json()) == 12

    again = runner.invoke(args=["bookme", "demo", "seed", "--slug", "demo-cli"])
    assert again.exit_code == 0, again.output
    assert "demo business already there" in again.output
    assert "demo owner login: owner+demo-cli@example.com / demo-owner-password" in again.output
    assert "demo staff login: nadia@example.com / demo-owner-password" in again.output


def test_an_existing_owner_account_keeps_its_password(db):
    from tests.conftest import make_user

    make_user(email="owner+demo-pw@example.com")
    result = demo.seed(slug="demo-pw", now=NOW, accounts=False)
    assert result.created
    assert result.logins == [
        ("owner+demo-pw@example.com", "(an existing account with another password)", "owner")
    ]
