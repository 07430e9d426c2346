"""The shared factories build what they say, in the current tenant only."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from bookme.core import tenancy
from bookme.core.db import session
from bookme.staff.models import WorkingHours
from tests.factories import (
    make_closure,
    make_override,
    make_service,
    make_staff,
    make_time_off,
    use_tenant,
)


def test_factories_build_a_schedule_in_the_current_tenant(tenant, other_tenant):
    use_tenant(tenant)
    cut = make_service(name="Coupe", price="80.00")
    nadia = make_staff(
        services=[cut], hours={1: [("09:00", "13:00"), ("14:00", "24:00")]}, display_name="Nadia"
    )
    off = make_override(nadia, "2027-03-02", [])
    half = make_override(nadia, date(2027, 3, 3), [("10:00", "14:00")])
    make_time_off(nadia, "2027-03-04T09:00:00+01:00", "2027-03-04T12:00:00+01:00")
    make_closure(datetime(2027, 3, 30, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC))

    assert cut.currency == "MAD"
    assert [s.name for s in nadia.services] == ["Coupe"]
    rows = (
        session()
        .scalars(
            sa.select(WorkingHours)
            .where(WorkingHours.staff_id == nadia.id)
            .order_by("start_minute")
        )
        .all()
    )
    assert [(r.weekday, r.start_minute, r.end_minute) for r in rows] == [
        (1, 540, 780),
        (1, 840, 1440),
    ]
    assert off.intervals == []
    assert [(i.start_minute, i.end_minute) for i in half.intervals] == [(600, 840)]
    # Replacing an override keeps one per day.
    again = make_override(nadia, "2027-03-03", [("11:00", "12:00")])
    assert [(i.start_minute, i.end_minute) for i in again.intervals] == [(660, 720)]

    use_tenant(other_tenant)
    assert session().execute(sa.text("SELECT count(*) FROM staff")).scalar_one() == 0


def test_factories_refuse_to_run_without_a_tenant(db):
    tenancy.activate(None)
    with pytest.raises(RuntimeError):
        make_service()


def test_factories_refuse_naive_instants(tenant):
    use_tenant(tenant)
    nadia = make_staff()
    with pytest.raises(ValueError):
        make_time_off(nadia, datetime(2027, 3, 4, 9), datetime(2027, 3, 4, 12))
