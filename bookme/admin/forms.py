"""One Flask-WTF form per screen. Forms check the shape of what was typed (required, length,
type); the rules of the business are the services', whose errors come back onto the fields."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields import DateTimeLocalField, FieldList
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from bookme.admin.labels import ROLE
from bookme.bookings.models import STATUSES
from bookme.core.api import LocalDate
from bookme.customers.models import CHANNELS
from bookme.users.models import ROLES

WEEKDAYS = range(1, 8)
ROWS_PER_DAY = 3  # intervals offered per day in the hours editors (split shifts and more)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def options(pairs: Any) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def none_if_blank(value: Any) -> Any:
    value = strip(value)
    return value or None


# --- signing in ---------------------------------------------------------------------------------


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=320)], filters=[strip])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class EmptyForm(FlaskForm):
    """A form that carries only its CSRF token (sign out, delete buttons)."""


class SwitchTenantForm(FlaskForm):
    slug = SelectField(_l("Business"), validators=[DataRequired()], validate_choice=False)


class LanguageForm(FlaskForm):
    lang = HiddenField(validators=[DataRequired()])
    next = HiddenField()


# --- bookings -----------------------------------------------------------------------------------


STATUS_LABELS = {
    "pending": _l("Pending"),
    "confirmed": _l("Confirmed"),
    "cancelled": _l("Cancelled"),
    "completed": _l("Completed"),
    "no_show": _l("No-show"),
}

ACTION_LABELS = {
    "confirm": _l("Confirm"),
    "cancel": _l("Cancel"),
    "complete": _l("Mark completed"),
    "no_show": _l("Mark no-show"),
}


class BookingFilterForm(FlaskForm):
    """The bookings list's filters, a GET form: the URL is the state. Its values are checked
    by the API's BookingQueryArgsSchema, not here."""

    class Meta:
        csrf = False

    from_ = DateField(_l("From"), validators=[Optional()], name="from")
    to = DateField(_l("To"), validators=[Optional()])
    staff_id = SelectField(_l("Staff"), validate_choice=False)
    service_id = SelectField(_l("Service"), validate_choice=False)
    status = MultiCheckboxField(
        _l("Status"),
        choices=options((s, STATUS_LABELS[s]) for s in STATUSES),
        validate_choice=False,
    )
    q = StringField(_l("Customer"), validators=[Optional(), Length(max=200)])


class BulkForm(FlaskForm):
    ids = SelectMultipleField(validate_choice=False)
    action = SelectField(
        _l("Action"), choices=options(ACTION_LABELS.items()), validators=[DataRequired()]
    )
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
    confirmed = HiddenField()
    back = HiddenField()


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=500)])


class SlotForm(FlaskForm):
    """The slot chosen in a slot picker: an instant with its offset."""

    starts_at = RadioField(_l("Time"), validators=[InputRequired()], validate_choice=False)
    staff_id = HiddenField()


class NewBookingForm(SlotForm):
    service_id = HiddenField(validators=[DataRequired()])
    customer_id = RadioField(_l("Customer"), validators=[Optional()], validate_choice=False)
    full_name = StringField(
        _l("New customer: name"), validators=[Optional(), Length(max=200)], filters=[strip]
    )
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)], filters=[strip])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=320)], filters=[strip])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])
    idempotency_key = HiddenField()


class RescheduleForm(SlotForm):
    pass


# --- customers ----------------------------------------------------------------------------------

CONSENT_CHOICES = options([("", _l("Not asked")), ("yes", _l("Yes")), ("no", _l("No"))])
CONSENT_LABELS = {
    "sms": _l("SMS"),
    "whatsapp": _l("WhatsApp"),
    "email": _l("Email"),
    "marketing": _l("Marketing"),
}
LOCALE_CHOICES = options([("fr", "Français"), ("ar", "العربية"), ("en", "English")])


class CustomerForm(FlaskForm):
    full_name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=200)], filters=[strip]
    )
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)], filters=[strip])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=320)], filters=[strip])
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES)
    tags = StringField(
        _l("Tags"),
        validators=[Optional(), Length(max=1100)],
        description=_l("Separated by commas."),
    )
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])
    consent_sms = SelectField(CONSENT_LABELS["sms"], choices=CONSENT_CHOICES)
    consent_whatsapp = SelectField(CONSENT_LABELS["whatsapp"], choices=CONSENT_CHOICES)
    consent_email = SelectField(CONSENT_LABELS["email"], choices=CONSENT_CHOICES)
    consent_marketing = SelectField(CONSENT_LABELS["marketing"], choices=CONSENT_CHOICES)

    def consents(self) -> dict[str, bool]:
        """Only the consents given an answer: "not asked" never withdraws a recorded one."""
        answers = {c: getattr(self, f"consent_{c}").data for c in CHANNELS}
        return {c: v == "yes" for c, v in answers.items() if v in ("yes", "no")}

    def tag_list(self) -> list[str]:
        return [t.strip() for t in (self.tags.data or "").split(",") if t.strip()]


# --- catalog ------------------------------------------------------------------------------------


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)], filters=[strip])
    position = IntegerField(_l("Position"), default=0, validators=[InputRequired()])


class ServiceForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)], filters=[strip])
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=5000)], filters=[none_if_blank]
    )
    category_id = SelectField(_l("Category"), validate_choice=False)
    duration_minutes = IntegerField(_l("Duration (minutes)"), validators=[InputRequired()])
    price = DecimalField(_l("Price"), places=2, validators=[InputRequired()])
    buffer_before_minutes = IntegerField(_l("Buffer before (minutes)"), default=0)
    buffer_after_minutes = IntegerField(_l("Buffer after (minutes)"), default=0)
    slot_interval_minutes = IntegerField(_l("Slot interval (minutes)"), default=15)
    min_notice_minutes = IntegerField(_l("Minimum notice (minutes)"), default=60)
    max_advance_days = IntegerField(_l("Bookable up to (days ahead)"), default=60)
    is_active = BooleanField(_l("Bookable"), default=True)
    payment_mode = SelectField(
        _l("Online payment when customers book"),
        choices=options(
            [("none", _l("None: paid at the business")), ("deposit", _l("A deposit")),
             ("full", _l("The full price"))]
        ),
    )  # fmt: skip
    deposit_amount = StringField(
        _l("Deposit amount"), validators=[Optional(), Length(max=20)], filters=[none_if_blank]
    )
    deposit_percent = IntegerField(_l("or deposit percentage"), validators=[Optional()])


class StaffForm(FlaskForm):
    display_name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=120)], filters=[strip]
    )
    email = EmailField(
        _l("Email"), validators=[Optional(), Length(max=320)], filters=[none_if_blank]
    )
    phone = StringField(
        _l("Phone"), validators=[Optional(), Length(max=20)], filters=[none_if_blank]
    )
    user_id = SelectField(_l("Signs in as"), validate_choice=False)
    is_active = BooleanField(_l("Active"), default=True)
    service_ids = MultiCheckboxField(_l("Services"), validate_choice=False)


class IntervalForm(Form):
    start = TimeField(_l("From"), validators=[Optional()])
    end = TimeField(_l("To"), validators=[Optional()])


def _week_fields() -> dict[str, Any]:
    return {
        f"day{weekday}": FieldList(
            FormField(IntervalForm), min_entries=ROWS_PER_DAY, max_entries=ROWS_PER_DAY
        )
        for weekday in WEEKDAYS
    }


WeeklyHoursForm = type("WeeklyHoursForm", (FlaskForm,), _week_fields())


def intervals_of(rows: Any) -> list[dict[str, str]]:
    """Filled rows of an hours editor as the API's intervals (`HH:MM`; "00:00" as an end is
    midnight at the end of the day)."""
    found = []
    for row in rows:
        start, end = row.start.data, row.end.data
        if start is None and end is None:
            continue
        found.append(
            {
                "start": start.strftime("%H:%M") if start else "",
                "end": ("24:00" if end == time(0) else end.strftime("%H:%M")) if end else "",
            }
        )
    return found


class DateOverrideForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired()])
    intervals = FieldList(
        FormField(IntervalForm), min_entries=ROWS_PER_DAY, max_entries=ROWS_PER_DAY
    )


class PeriodForm(FlaskForm):
    """Time off and closures: local date-times in the business's zone."""

    starts_at = DateTimeLocalField(_l("Starts"), validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), validators=[DataRequired()])
    reason = StringField(
        _l("Reason"), validators=[Optional(), Length(max=500)], filters=[none_if_blank]
    )

    def instants(self, timezone: str) -> dict[str, Any]:
        zone = ZoneInfo(timezone)
        return {
            "starts_at": _aware(self.starts_at.data, zone),
            "ends_at": _aware(self.ends_at.data, zone),
            "reason": self.reason.data,
        }


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    return value.replace(tzinfo=zone)


# --- settings -----------------------------------------------------------------------------------


class TenantForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)], filters=[strip])
    timezone = StringField(
        _l("Time zone"), validators=[DataRequired(), Length(max=64)], filters=[strip]
    )
    currency = StringField(
        _l("Currency"), validators=[DataRequired(), Length(min=3, max=3)], filters=[strip]
    )
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES)
    cancellation_cutoff_hours = IntegerField(
        _l("Customers may cancel or reschedule up to (hours before)"),
        validators=[InputRequired()],
    )


class MemberForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=320)], filters=[strip])
    role = SelectField(_l("Role"), choices=options((r, ROLE[r]) for r in ROLES))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=options((r, ROLE[r]) for r in ROLES))


class NotificationSettingsForm(FlaskForm):
    channel_1 = SelectField(_l("First choice"))
    channel_2 = SelectField(_l("Second choice"))
    channel_3 = SelectField(_l("Third choice"))
    reminder_offsets = StringField(
        _l("Reminders (minutes before, separated by commas)"),
        validators=[Optional(), Length(max=100)],
    )
    events = MultiCheckboxField(_l("Messages sent"), validate_choice=False)
    sms_sender = StringField(
        _l("SMS sender"), validators=[Optional(), Length(max=20)], filters=[none_if_blank]
    )
    whatsapp_sender = StringField(
        _l("WhatsApp sender"), validators=[Optional(), Length(max=32)], filters=[none_if_blank]
    )
    email_from_name = StringField(
        _l("Email sender name"), validators=[Optional(), Length(max=100)], filters=[none_if_blank]
    )


class TemplateForm(FlaskForm):
    subject = StringField(
        _l("Subject"), validators=[Optional(), Length(max=500)], filters=[none_if_blank]
    )
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=5000)])
    content_sid = StringField(
        _l("WhatsApp content SID"), validators=[Optional(), Length(max=64)], filters=[none_if_blank]
    )
    content_variables = StringField(
        _l("WhatsApp content variables (in order, separated by commas)"),
        validators=[Optional(), Length(max=500)],
    )
    preview = HiddenField()


# --- the manage page ----------------------------------------------------------------------------


class ManageCancelForm(FlaskForm):
    class Meta:
        csrf = False  # the token in the path is the credential (see web.CSRF_EXEMPT_PREFIXES)

    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=500)])


class ManageRescheduleForm(FlaskForm):
    class Meta:
        csrf = False

    starts_at = RadioField(_l("New time"), validators=[InputRequired()], validate_choice=False)


def parse_day(text: str | None, default: date) -> date:
    """A `?date=` of a page: `YYYY-MM-DD` within the years the API takes, else `default`
    (a page showing the day before or after year 1 or 9999 would fail to build)."""
    try:
        day: date = LocalDate().deserialize(text) if text else default
    except ma.ValidationError:
        return default
    return day


# --- payments -----------------------------------------------------------------------------------


class CashPaymentForm(FlaskForm):
    amount = StringField(
        _l("Amount paid at the counter"), validators=[DataRequired(), Length(max=20)],
        filters=[strip],
    )  # fmt: skip


class RefundForm(FlaskForm):
    amount = StringField(
        _l("Amount (empty: all that remains)"), validators=[Optional(), Length(max=20)],
        filters=[none_if_blank],
    )  # fmt: skip
    reason = StringField(
        _l("Reason"), validators=[Optional(), Length(max=500)], filters=[none_if_blank]
    )


class PaymentSettingsForm(FlaskForm):
    hold_minutes = IntegerField(_l("Unpaid online bookings are held for (minutes)"))
    full_refund_hours_before = IntegerField(
        _l("Customers cancelling this long before are refunded in full (hours)")
    )
    tax_rate = StringField(_l("Tax rate (%)"), validators=[Length(max=10)], filters=[strip])
    legal_name = StringField(
        _l("Legal name"), validators=[Optional(), Length(max=200)], filters=[none_if_blank]
    )
    address = TextAreaField(
        _l("Address"), validators=[Optional(), Length(max=500)], filters=[none_if_blank]
    )
    ice = StringField(_l("ICE"), validators=[Optional(), Length(max=15)], filters=[none_if_blank])
    tax_id = StringField(
        _l("Tax identifier (IF)"), validators=[Optional(), Length(max=32)],
        filters=[none_if_blank],
    )  # fmt: skip
    trade_register = StringField(
        _l("Trade register (RC)"), validators=[Optional(), Length(max=64)],
        filters=[none_if_blank],
    )  # fmt: skip
    invoice_prefix = StringField(
        _l("Invoice number prefix"), validators=[Optional(), Length(max=20)], filters=[strip]
    )
    stripe_publishable_key = StringField(
        _l("Stripe publishable key"), validators=[Optional(), Length(max=255)],
        filters=[none_if_blank],
    )  # fmt: skip
    stripe_secret_key = PasswordField(
        _l("Stripe secret key (leave empty to keep)"), validators=[Optional(), Length(max=255)],
        filters=[none_if_blank],
    )  # fmt: skip
    stripe_webhook_secret = PasswordField(
        _l("Stripe webhook signing secret (leave empty to keep)"),
        validators=[Optional(), Length(max=255)], filters=[none_if_blank],
    )  # fmt: skip
    stripe_remove = BooleanField(_l("Remove Stripe"))
    paypal_client_id = StringField(
        _l("PayPal client ID"), validators=[Optional(), Length(max=255)], filters=[none_if_blank]
    )
    paypal_client_secret = PasswordField(
        _l("PayPal client secret (leave empty to keep)"),
        validators=[Optional(), Length(max=255)], filters=[none_if_blank],
    )  # fmt: skip
    paypal_webhook_id = StringField(
        _l("PayPal webhook ID"), validators=[Optional(), Length(max=255)], filters=[none_if_blank]
    )
    paypal_currency = SelectField(
        _l("PayPal charges in"),
        choices=options([("", _l("The business's currency")), ("EUR", "EUR"), ("USD", "USD")]),
    )
    paypal_rate = StringField(
        _l("Rate (units of that currency per unit of the business's)"),
        validators=[Optional(), Length(max=20)], filters=[none_if_blank],
    )  # fmt: skip
    paypal_remove = BooleanField(_l("Remove PayPal"))
