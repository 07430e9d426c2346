"""Settings: the business (owners change it), members (owners), notification settings and
message templates with a preview (owners and managers)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, flash, request, url_for
from flask_babel import gettext as _
from flask_smorest.pagination import PaginationParameters

from bookme.admin import auth, blp
from bookme.admin.forms import (
    EmptyForm,
    MemberForm,
    NotificationSettingsForm,
    RoleForm,
    TemplateForm,
    TenantForm,
    options,
)
from bookme.admin.views.common import (
    ctx,
    describe,
    form_page,
    load,
    page,
    put_errors,
    see_other,
    svc,
)
from bookme.communications import service as communications
from bookme.communications.models import CHANNELS, EVENTS, LOCALES
from bookme.communications.schemas import (
    NotificationSettingsUpdateSchema,
    NotificationTemplatePreviewSchema,
    NotificationTemplateUpdateSchema,
)
from bookme.communications.templates import VARIABLES
from bookme.core import errors
from bookme.tenants import service as tenants
from bookme.tenants.schemas import TenantUpdateSchema
from bookme.users import service as users
from bookme.users.schemas import MemberCreateSchema, MemberUpdateSchema


def _tenant() -> Any:
    return ctx().tenant


# --- the business -------------------------------------------------------------------------------


@blp.route("/settings", methods=["GET", "POST"])
@auth.requires("settings.read")
def settings() -> Response:
    """The business's profile and booking rules: everyone reads them, owners change them."""
    business = tenants.get_tenant(tenant=_tenant())
    current = tenants.get_settings(business)
    form = TenantForm(obj=business if request.method == "GET" else None)
    if request.method == "GET":
        form.cancellation_cutoff_hours.data = current["cancellation_cutoff_hours"]
    if request.method == "POST":
        if not ctx().can("tenant.write"):
            raise errors.Forbidden("Only owners change the business's settings.")
        if form.validate_on_submit():
            payload = {
                "name": form.name.data,
                "timezone": form.timezone.data,
                "currency": form.currency.data.upper(),
                "locale": form.locale.data,
                "settings": {"cancellation_cutoff_hours": form.cancellation_cutoff_hours.data},
            }
            try:
                tenants.update_tenant(**svc(), changes=load(TenantUpdateSchema(), payload))
            except errors.BookMeError as exc:
                put_errors(
                    form,
                    exc,
                    aliases={"settings": "cancellation_cutoff_hours"},
                )
            else:
                flash(_("Settings saved."), "success")
                return see_other(url_for("admin.settings"))
    return form_page("admin/settings/tenant.html", form, business=business)


# --- members ------------------------------------------------------------------------------------


def _members() -> list[Any]:
    return users.list_members(tenant=_tenant(), pagination=PaginationParameters(1, 500))


@blp.route("/members", methods=["GET", "POST"])
@auth.requires("members.manage")
def members() -> Response:
    form = MemberForm()
    if form.validate_on_submit():
        try:
            data = load(MemberCreateSchema(), {"email": form.email.data, "role": form.role.data})
            users.add_member(tenant=_tenant(), actor=ctx().actor, **data)
        except errors.BookMeError as exc:
            put_errors(form, exc)
        else:
            flash(_("Member added."), "success")
            return see_other(url_for("admin.members"))
    return form_page(
        "admin/settings/members.html", form, members=_members(), role_form=RoleForm(formdata=None)
    )


@blp.route("/members/<uuid:user_id>/role", methods=["POST"])
@auth.requires("members.manage")
def member_role(user_id: uuid.UUID) -> Response:
    form = RoleForm()
    if form.validate_on_submit():
        try:
            data = load(MemberUpdateSchema(), {"role": form.role.data})
            users.change_member_role(
                tenant=_tenant(), actor=ctx().actor, user_id=user_id, role=data["role"]
            )
        except errors.BookMeError as exc:
            if exc.status in (403, 404):
                raise
            flash(describe(exc), "error")
        else:
            flash(_("Role changed."), "success")
    return see_other(url_for("admin.members"))


@blp.route("/members/<uuid:user_id>/remove", methods=["POST"])
@auth.requires("members.manage")
def member_remove(user_id: uuid.UUID) -> Response:
    EmptyForm().validate_on_submit()
    try:
        users.remove_member(tenant=_tenant(), actor=ctx().actor, user_id=user_id)
    except errors.BookMeError as exc:
        if exc.status in (403, 404):
            raise
        flash(describe(exc), "error")
    else:
        flash(_("Member removed."), "success")
    return see_other(url_for("admin.members"))


# --- notifications ------------------------------------------------------------------------------


@blp.route("/notifications", methods=["GET", "POST"], endpoint="notification_settings")
@auth.requires("notifications.read")
def notification_settings() -> Response:
    current = communications.get_settings(tenant=_tenant())
    form = NotificationSettingsForm()
    choices = options([("", _("None")), *((c, c) for c in CHANNELS)])
    for name in ("channel_1", "channel_2", "channel_3"):
        getattr(form, name).choices = choices
    form.events.choices = options((e, e) for e in EVENTS)
    if request.method == "GET":
        for index, channel in enumerate(current["channels"][:3], start=1):
            getattr(form, f"channel_{index}").data = channel
        form.reminder_offsets.data = ", ".join(str(m) for m in current["reminder_offsets_minutes"])
        form.events.data = [e for e, on in current["events"].items() if on]
        form.sms_sender.data = current["sms_sender"]
        form.whatsapp_sender.data = current["whatsapp_sender"]
        form.email_from_name.data = current["email_from_name"]
    if form.validate_on_submit():
        offsets: list[Any] = []
        for raw in (form.reminder_offsets.data or "").split(","):
            part = raw.strip()
            if part:
                offsets.append(int(part) if part.isdigit() else part)
        payload = {
            "channels": [
                c for c in (form.channel_1.data, form.channel_2.data, form.channel_3.data) if c
            ],
            "reminder_offsets_minutes": offsets,
            "events": {e: e in (form.events.data or []) for e in EVENTS},
            "sms_sender": form.sms_sender.data,
            "whatsapp_sender": form.whatsapp_sender.data,
            "email_from_name": form.email_from_name.data,
        }
        try:
            changes = load(NotificationSettingsUpdateSchema(), payload)
            communications.update_settings(**svc(), changes=changes)
        except errors.BookMeError as exc:
            put_errors(
                form,
                exc,
                aliases={
                    "channels": "channel_1",
                    "reminder_offsets_minutes": "reminder_offsets",
                },
            )
        else:
            flash(_("Notification settings saved."), "success")
            return see_other(url_for("admin.notification_settings"))
    return form_page("admin/settings/notifications.html", form)


@blp.route("/templates")
@auth.requires("notifications.read")
def templates() -> Response:
    found = communications.list_templates(tenant=_tenant())
    return page("admin/settings/templates.html", templates=found)


def _key(event: str, channel: str, locale: str) -> None:
    if event not in EVENTS or channel not in CHANNELS or locale not in LOCALES:
        raise errors.NotFound(_("No such template."))


@blp.route("/templates/<event>/<channel>/<locale>", methods=["GET", "POST"])
@auth.requires("notifications.read")
def template_edit(event: str, channel: str, locale: str) -> Response:
    """Edit one message; "Preview" renders what was typed with sample data, "Save" keeps it."""
    _key(event, channel, locale)
    current = next(
        t
        for t in communications.list_templates(tenant=_tenant())
        if (t.event, t.channel, t.locale) == (event, channel, locale)
    )
    form = TemplateForm(obj=current if request.method == "GET" else None)
    if request.method == "GET":
        form.content_variables.data = ", ".join(current.content_variables or ())
    preview: dict[str, Any] | None = None
    if request.method == "POST":
        if not ctx().can("notifications.write"):
            raise errors.Forbidden("Your role does not allow this.")
        if form.validate_on_submit():
            variables = [
                v.strip() for v in (form.content_variables.data or "").split(",") if v.strip()
            ]
            data: dict[str, Any] = {"body": form.body.data}
            if channel == "email" or form.subject.data:
                data["subject"] = form.subject.data
            if channel == "whatsapp" or form.content_sid.data or variables:
                data["content_sid"] = form.content_sid.data
                data["content_variables"] = variables
            try:
                if request.form.get("do") == "preview":
                    shown = {k: v for k, v in data.items() if k in ("subject", "body") and v}
                    preview = communications.preview_template(
                        tenant=_tenant(), now=svc()["now"], event=event, channel=channel,
                        locale=locale, data=load(NotificationTemplatePreviewSchema(), shown),
                    )  # fmt: skip
                else:
                    communications.put_template(
                        **svc(), event=event, channel=channel, locale=locale,
                        data=load(NotificationTemplateUpdateSchema(), data),
                    )  # fmt: skip
                    flash(_("Template saved."), "success")
                    return see_other(
                        url_for("admin.template_edit", event=event, channel=channel, locale=locale)
                    )
            except errors.BookMeError as exc:
                put_errors(form, exc)
    return form_page(
        "admin/settings/template_edit.html",
        form,
        template=current,
        preview=preview,
        variables=VARIABLES,
        reset_form=EmptyForm(formdata=None),
    )


@blp.route("/templates/<event>/<channel>/<locale>/reset", methods=["POST"])
@auth.requires("notifications.write")
def template_reset(event: str, channel: str, locale: str) -> Response:
    _key(event, channel, locale)
    communications.delete_template(**svc(), event=event, channel=channel, locale=locale)
    flash(_("Back to the default text."), "success")
    return see_other(url_for("admin.template_edit", event=event, channel=channel, locale=locale))
