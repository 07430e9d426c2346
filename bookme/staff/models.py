"""Staff and their time, per tenant schema: services, weekly hours, overrides, time off, closures.

Working intervals are minutes of the local day (0-1440) in the tenant's time zone, so 24:00
is representable and the availability SQL turns them into instants per date.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bookme.core.db import Base, created_at, updated_at, uuid_pk
from bookme.services.models import Service


def hhmm(minute: int) -> str:
    """Minutes of the local day as `HH:MM` (1440 → `24:00`)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


class _LocalInterval:
    """`start`/`end` as the API shows them, for rows holding `start_minute`/`end_minute`."""

    @property
    def start(self) -> str:
        return hhmm(self.start_minute)  # type: ignore[attr-defined]

    @property
    def end(self) -> str:
        return hhmm(self.end_minute)  # type: ignore[attr-defined]


staff_services = sa.Table(
    "staff_services",
    Base.metadata,
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "service_id", sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Staff(Base):
    __tablename__ = "staff"
    __table_args__ = (
        sa.Index(
            "uq_staff_user_id",
            "user_id",
            unique=True,
            postgresql_where=sa.text("user_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    display_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("public.users.id", ondelete="SET NULL")
    )
    is_active: Mapped[bool] = mapped_column(server_default=sa.text("true"))
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]
    # Deleted while past or cancelled bookings still name them: kept for those, gone for the
    # rest (`catalog.delete_or_archive`).
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    services: Mapped[list[Service]] = relationship(secondary=staff_services, order_by=Service.name)

    @property
    def service_ids(self) -> list[uuid.UUID]:
        """By service name, however the collection was assigned."""
        return [s.id for s in sorted(self.services, key=lambda s: (s.name, str(s.id)))]


class WorkingHours(_LocalInterval, Base):
    __tablename__ = "working_hours"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday"),
        sa.CheckConstraint(
            "start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440",
            name="interval",
        ),
        ExcludeConstraint(
            ("staff_id", "="),
            ("weekday", "="),
            (sa.text("int4range(start_minute, end_minute)"), "&&"),
            name="ex_working_hours_no_overlap",
            using="gist",
        ),
    )

    id: Mapped[uuid_pk]
    staff_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("staff.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(sa.SmallInteger)
    start_minute: Mapped[int] = mapped_column(sa.SmallInteger)
    end_minute: Mapped[int] = mapped_column(sa.SmallInteger)


class DateOverride(Base):
    """A local date whose intervals replace the weekly hours; no intervals means a day off."""

    __tablename__ = "date_overrides"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    created_at: Mapped[created_at]

    intervals: Mapped[list[DateOverrideInterval]] = relationship(
        cascade="all, delete-orphan", order_by="DateOverrideInterval.start_minute"
    )


class DateOverrideInterval(_LocalInterval, Base):
    __tablename__ = "date_override_intervals"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["staff_id", "day"],
            ["date_overrides.staff_id", "date_overrides.day"],
            ondelete="CASCADE",
            name="fk_date_override_intervals_date_overrides",
        ),
        sa.CheckConstraint(
            "start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440",
            name="interval",
        ),
        ExcludeConstraint(
            ("staff_id", "="),
            ("day", "="),
            (sa.text("int4range(start_minute, end_minute)"), "&&"),
            name="ex_date_override_intervals_no_overlap",
            using="gist",
        ),
    )

    id: Mapped[uuid_pk]
    staff_id: Mapped[uuid.UUID]
    day: Mapped[date]
    start_minute: Mapped[int] = mapped_column(sa.SmallInteger)
    end_minute: Mapped[int] = mapped_column(sa.SmallInteger)


class TimeOff(Base):
    __tablename__ = "time_off"
    __table_args__ = (
        sa.CheckConstraint("starts_at < ends_at", name="period"),
        sa.Index(
            "ix_time_off_staff_period",
            "staff_id",
            sa.text("tstzrange(starts_at, ends_at)"),
            postgresql_using="gist",
        ),
    )

    id: Mapped[uuid_pk]
    staff_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]


class Closure(Base):
    """A tenant-wide closure (a holiday such as Eid)."""

    __tablename__ = "closures"
    __table_args__ = (
        sa.CheckConstraint("starts_at < ends_at", name="period"),
        sa.Index(
            "ix_closures_period", sa.text("tstzrange(starts_at, ends_at)"), postgresql_using="gist"
        ),
    )

    id: Mapped[uuid_pk]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]
