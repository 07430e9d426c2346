"""flask-smorest glue: the Api, the base schema, shared fields and pagination."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask.json.provider import DefaultJSONProvider
from flask.views import MethodView
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest.pagination import PaginationParameters
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.datastructures import MultiDict

from bookme.core import errors


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error under /api is rendered."""

    type = ma.fields.String(metadata={"example": "https://bookme.ma/problems/not_found"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    code = ma.fields.String(metadata={"description": "Stable, machine-readable error code"})
    errors = ma.fields.Dict(metadata={"description": "Validation errors, field by field"})


X_TENANT_PARAMETER = {
    "description": (
        "The tenant's slug. Not needed when the request's Host is one of the tenant's "
        "domains (or `<slug>.<BOOKME_BASE_DOMAIN>`), which takes precedence."
    ),
    "required": False,
    "schema": {"type": "string", "pattern": "^[a-z][a-z0-9-]{2,62}$", "maxLength": 63},
}


def _page_key(description: str, *, nullable: bool = False) -> ma.fields.Integer:
    return ma.fields.Integer(
        required=True, allow_none=nullable, metadata={"description": description}
    )


class PaginationMetadataSchema(ma.Schema):
    """What the `X-Pagination` header holds (as JSON) on every page of a list."""

    total = _page_key("Items in the whole list.")
    total_pages = _page_key("Pages in the whole list: at least 1, an empty list being one.")
    page = _page_key("This page's number.")
    first_page = _page_key("Always 1.")
    last_page = _page_key("The last page, `total_pages`.")
    previous_page = _page_key(
        "The page before this one, at most `last_page`; null on page 1.", nullable=True
    )
    next_page = _page_key("The page after this one; null from `last_page` on.", nullable=True)


PAGINATION_DESCRIPTION = (
    "Where this page lies in the list, as JSON. Pages are numbered from 1 and every key is "
    "always present. An empty list is one empty page: `total` 0, `total_pages` and "
    "`last_page` 1. A page past the last is empty too, not an error."
)


class Api(_Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_pagination_header(self) -> None:
        self.spec.components.header(
            "PAGINATION",
            {"description": PAGINATION_DESCRIPTION, "schema": PaginationMetadataSchema},
            lazy=True,
        )

    def _init_spec(self, *args: Any, **kwargs: Any) -> None:
        super()._init_spec(*args, **kwargs)
        self.spec.components.parameter(
            "XTenant", "header", {"name": "X-Tenant", **X_TENANT_PARAMETER}
        )

    def _register_error_handlers(self) -> None:  # errors.register owns this
        return None

    def _register_responses(self) -> None:
        super()._register_responses()
        # flask-smorest registers its error responses lazily (only those referenced reach the
        # document): rewrite both kinds, so every error is documented as problem+json.
        components = self.spec.components
        for response in (*components.responses.values(), *components.responses_lazy.values()):
            content = response.get("content")
            if content and "application/json" in content:
                content[errors.PROBLEM_MIMETYPE] = content.pop("application/json")


class Parser(FlaskParser):
    """Bodies are parsed only when a view asks for them, i.e. after its access checks.

    A body that is not JSON, or not the JSON type the schema takes (an object, or an array
    for list bodies), is 400 `invalid_json`; field problems stay 422.
    """

    def load_json(self, req: Any, schema: ma.Schema) -> Any:
        raw = req.get_data(cache=True)
        if not raw.strip():
            return webargs_core.missing
        if not is_json_request(req):
            raise errors.InvalidJson("Send JSON bodies with Content-Type: application/json.")
        try:
            data = read_json(raw, parse_int=int_or_infinity)
        except JSONRefused as exc:
            raise errors.InvalidJson(str(exc)) from exc
        except ValueError as exc:
            raise errors.InvalidJson("The request body is not valid JSON.") from exc
        if getattr(schema, "many", False):
            if not isinstance(data, list):
                raise errors.InvalidJson("The request body must be a JSON array.")
        elif not isinstance(data, dict):
            raise errors.InvalidJson("The request body must be a JSON object.")
        return data


# No body of this API nests more than a few levels; a deeper one is refused before anything
# walks it recursively (the parser, the NUL check, the schemas), where it would exhaust the
# interpreter's stack and end as a 500.
MAX_JSON_DEPTH = 32
_TOO_DEEP = f"The request body is nested more than {MAX_JSON_DEPTH} levels deep."


# A `\uD800`-`\uDFFF` escape not part of a pair decodes to a lone surrogate: a string that is
# not Unicode text (RFC 7493), which nothing downstream can encode (UTF-8, PostgreSQL, Redis).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = "The request body has a \\u escape for half of a UTF-16 surrogate pair."


def has_lone_surrogate(text: str, value: Any) -> bool:
    """Whether JSON `value`, parsed from `text`, holds a string or key with a lone surrogate.
    Only documents with such an escape are walked (a valid pair decodes to one character)."""
    if not _SURROGATE_ESCAPE.search(text):
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON `value` has arrays or objects nested more than `limit` levels (no recursion)."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


def int_or_infinity(literal: str) -> int | float:
    """An integer literal as `int`; one over the interpreter's digit limit (a ValueError,
    sys.get_int_max_str_digits) as a signed infinity, as json reads a float too large for
    one (`1e400`): valid JSON parses, and every field refuses it (422) as out of range."""
    try:
        return int(literal)
    except ValueError:
        return float("-inf") if literal.startswith("-") else float("inf")


class JSONRefused(ValueError):
    """Well-formed JSON refused for what it holds; the message says why, for the caller."""


def read_json(raw: str | bytes, *, lone_surrogates: bool = False, **loads_options: Any) -> Any:
    """How every JSON document from outside is read (request bodies, provider webhooks):
    UTF-8 only (the json module would also take UTF-16/32, and let surrogates encoded as
    bytes through), nesting at most MAX_JSON_DEPTH levels (the parser's recursion is no
    500), and no lone surrogate unless the caller makes strings storable itself. Any refusal
    is a ValueError; a JSONRefused one carries a message fit for the client."""
    text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    try:
        value = json.loads(text, **loads_options)
    except RecursionError as exc:
        raise JSONRefused(_TOO_DEEP) from exc
    if nested_deeper_than(value, MAX_JSON_DEPTH):
        raise JSONRefused(_TOO_DEEP)
    if not lone_surrogates and has_lone_surrogate(text, value):
        raise JSONRefused(LONE_SURROGATE)
    return value


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading as `read_json` does: what it refuses is a ValueError, which
    `request.get_json(silent=True)` (the rate limits' keys) answers with None, not a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", int_or_infinity)  # the document the view's parser reads
        return read_json(s, **kwargs)


class Blueprint(_Blueprint):
    """A flask-smorest blueprint; `problems(...)` documents the error codes a route returns.

    The access decorator a view carries (`_bookme_access`, see `bookme.users.access`) is
    documented centrally: bearer security, the `X-Tenant` header and the errors access can
    produce. A body adds 400 (`invalid_json`), 413 and 422.
    """

    ARGUMENTS_PARSER = Parser()
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 20, "max_page_size": 100}

    @staticmethod
    def _make_pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, Any]:
        """All seven keys of API.md on every page; `null` where there is no such page. An
        empty list is one empty page (see PAGINATION_DESCRIPTION)."""
        total_pages = max((item_count + page_size - 1) // page_size, 1)
        return {
            "total": item_count,
            "total_pages": total_pages,
            "page": page,
            "first_page": 1,
            "last_page": total_pages,
            # Past the end, the page before is the last one there is, not one that isn't.
            "previous_page": min(page - 1, total_pages) if page > 1 else None,
            "next_page": page + 1 if page < total_pages else None,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_access_doc)

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        """As flask-smorest's, with a schema class made an instance once, here: given a class,
        webargs builds a new instance (copying every declared field) on each request."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def no_body(self) -> Any:
        """For an action that takes no body: none, or `{}`; a field in it is unknown (422), as
        in any other body. The view is called without it."""

        def decorator(fn: Any) -> Any:
            @functools.wraps(fn)
            def without_body(_body: Any, *args: Any, **kwargs: Any) -> Any:
                return fn(*args, **kwargs)

            return self.arguments(NoBody, required=False)(without_body)

        return decorator

    def problems(self, *statuses: int) -> Any:
        def decorator(fn: Any) -> Any:
            for status in statuses:
                fn = self.alt_response(
                    status,
                    schema=ProblemSchema,
                    content_type=errors.PROBLEM_MIMETYPE,
                    description=_STATUS_TEXT.get(status, "Error"),
                )(fn)
            return fn

        return decorator

    def _store_endpoint_docs(
        self, endpoint: str, obj: Any, parameters: Any, tags: Any, **options: Any
    ) -> None:
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        for method, doc in self._docs[endpoint].items():
            if method == "parameters":
                continue
            function = getattr(obj, method) if isinstance(obj, type(MethodView)) else obj
            access = getattr(function, "_bookme_access", None)
            doc["bookme_access"] = access
            statuses = set(_ACCESS_PROBLEMS.get(access[0], (401,)) if access else ())
            locations = {
                p.get("in")
                for p in doc.get("arguments", {}).get("parameters", [])
                if isinstance(p, Mapping)
            }
            if locations & {"json", "form", "files"}:
                statuses |= {400, 413, 422}
            elif locations:
                statuses.add(422)
            responses = doc.setdefault("response", {}).setdefault("responses", {})
            for status in sorted(statuses):
                if status not in responses and str(status) not in responses:
                    responses[status] = [
                        {
                            "schema": ProblemSchema(),
                            "description": _STATUS_TEXT.get(status, "Error"),
                            "content_type": errors.PROBLEM_MIMETYPE,
                        }
                    ]

    @staticmethod
    def _prepare_access_doc(doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> Any:
        access = doc_info.get("bookme_access")
        if not access:
            return doc
        kind, roles = access
        doc["security"] = [] if kind in _NO_TOKEN else [{"bearerAuth": []}]
        if kind in ("member", "public"):
            doc.setdefault("parameters", []).append("XTenant")
        if roles:
            docstring = doc_info.setdefault("docstring", {})
            note = "Roles: " + ", ".join(roles) + "."
            docstring["description"] = (docstring.get("description", "") + "\n\n" + note).strip()
        doc["x-bookme-access"] = {"kind": kind, "roles": list(roles)}
        return doc


# What each kind of access can answer before the view runs (other kinds take a token: 401).
_ACCESS_PROBLEMS: dict[str, tuple[int, ...]] = {
    "member": (400, 401, 403, 404),
    "public": (400, 403, 404),
    "anonymous": (),
    "authenticated": (401,),
    "slug_member": (401, 403, 404),
}
_NO_TOKEN = frozenset({"public", "anonymous"})

_STATUS_TEXT = {
    400: "Bad request (invalid_json, tenant_required)",
    401: "Unauthorized (unauthorized)",
    403: "Forbidden (forbidden, tenant_suspended)",
    404: "Not found (not_found, tenant_not_found)",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large (payload_too_large)",
    422: "Validation error (validation_error)",
    429: "Rate limited (rate_limited)",
}


_NUL = "NUL characters are not allowed."


def _nul_errors(value: Any) -> Any:
    """Where `value` holds a NUL character, shaped as marshmallow shapes errors (a field's
    messages under its key, a list item's under its index, a key's under `_schema`), or None.
    Bodies are at most MAX_JSON_DEPTH deep, so the recursion is bounded."""
    if isinstance(value, str):
        return [_NUL] if "\x00" in value else None
    found: dict[Any, Any] = {}
    if isinstance(value, Mapping):
        # Query strings arrive as webargs' proxy over a werkzeug MultiDict: read every value.
        raw = getattr(value, "data", value)
        items = raw.items(multi=True) if isinstance(raw, MultiDict) else raw.items()
        for key, item in items:
            if "\x00" in str(key):
                found["_schema"] = [_NUL]
            elif (errors_here := _nul_errors(item)) is not None:
                found[key] = errors_here
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (errors_here := _nul_errors(item)) is not None:
                found[index] = errors_here
    return found or None


class Schema(ma.Schema):
    """Base schema: unknown fields are refused, NUL characters are refused."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    # With the whole collection of a `many` load: an item's errors are keyed by its index, as
    # marshmallow keys its own (an error raised by a per-item pre_load loses the index).
    @ma.pre_load(pass_collection=True)
    def _no_nul(self, data: Any, **kwargs: Any) -> Any:
        bad = _nul_errors(data)
        if bad is not None:
            raise ma.ValidationError(bad)
        return data


class NoBody(Schema):
    """The body of an action that takes none: nothing, or `{}`. A field is unknown (422)."""


class QuerySchema(Schema):
    """Query-string arguments: pagination parameters are parsed beside these."""

    class Meta:
        unknown = ma.EXCLUDE


# --- shared fields ------------------------------------------------------------------------------


def Str(max_length: int, *, min_length: int = 0, **kwargs: Any) -> ma.fields.String:
    """A string with a maximum length, stated in the OpenAPI schema."""
    return ma.fields.String(validate=ma.validate.Length(min=min_length, max=max_length), **kwargs)


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})"
)
LOCAL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # the only shape of a local date (API.md)
FIRST_YEAR, LAST_YEAR = 1970, 2200


class LocalDate(ma.fields.Date):
    """A local date, `YYYY-MM-DD` only (Python's ISO reader also takes `20270504` and week
    dates), within the years instants may take."""

    default_error_messages = {
        "invalid": "Expected a local date YYYY-MM-DD.",
        "out_of_range": f"Dates must fall between the years {FIRST_YEAR} and {LAST_YEAR - 1}.",
    }

    def __init__(self, *, bounded: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bounded = bounded  # False: any calendar date (availability answers far ones empty)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        if not isinstance(value, str) or not LOCAL_DATE.fullmatch(value):
            raise self.make_error("invalid")
        day: dt.date = super()._deserialize(value, attr, data, **kwargs)
        # The day after the last one must still be an instant (a range's exclusive end).
        if self.bounded and not FIRST_YEAR <= day.year < LAST_YEAR:
            raise self.make_error("out_of_range")
        return day


class AwareDateTime(ma.fields.AwareDateTime):
    """RFC 3339 instant; an offset is required on input."""

    default_error_messages = {
        "invalid_awareness": "A UTC offset is required (RFC 3339).",
        "out_of_range": f"Instants must fall between the years {FIRST_YEAR} and {LAST_YEAR}.",
        "not_rfc3339": "Expected an RFC 3339 instant, such as 2027-05-04T10:00:00+01:00.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        if isinstance(value, str) and not re.search(r"(Z|z|[+-]\d{2}:?\d{2})$", value.strip()):
            raise self.make_error("invalid_awareness")
        # RFC 3339's shape (Python's ISO 8601 reader also takes week dates, ordinal dates and
        # the basic format); seconds may be left out, as clients often do.
        if isinstance(value, str) and not _RFC3339.fullmatch(value.strip()):
            raise self.make_error("not_rfc3339")
        result = super()._deserialize(value, attr, data, **kwargs)
        # Far years overflow once shifted to another offset (Python) or in PostgreSQL.
        if not FIRST_YEAR <= result.year <= LAST_YEAR:
            raise self.make_error("out_of_range")
        return result


class TenantDateTime(AwareDateTime):
    """An instant rendered with the tenant's UTC offset at that instant.

    Also takes the RFC 3339 strings kept in JSON columns (invoice lines, event data).
    """

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        from bookme.core import tenancy

        tenant = tenancy.current()
        if tenant is not None:
            value = value.astimezone(zoneinfo.ZoneInfo(tenant.timezone))
        return value.isoformat()


class LocalTime(ma.fields.String):
    """A local wall-clock time, `HH:MM`."""

    default_error_messages = {"invalid": "Expected a local time as HH:MM."}
    PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"
    _re = re.compile(PATTERN)

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"maxLength": 5, "pattern": self.PATTERN, "example": "09:00"}
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, dt.time):
            return value.strftime("%H:%M")
        return str(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not self._re.fullmatch(value):
            raise self.make_error("invalid")
        return value


class TimeZone(ma.fields.String):
    """An IANA time zone name."""

    default_error_messages = {"invalid": "Unknown IANA time zone."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in zoneinfo.available_timezones():
            raise self.make_error("invalid")
        return text


class StrictBoolean(ma.fields.Boolean):
    """JSON `true` or `false` only (not 1, "yes" or "on"; null only with allow_none)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Money(ma.fields.String):
    """A non-negative decimal string with at most two places (`"150.00"`); API.md's money is
    a string, so a JSON number is refused like any other wrong type."""

    default_error_messages = {"invalid": 'Expected a non-negative amount like "150.00".'}
    PATTERN = r"^\d{1,8}(\.\d{1,2})?$"
    _re = re.compile(PATTERN)

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"maxLength": 11, "pattern": self.PATTERN, "example": "150.00"}
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return f"{Decimal(value):.2f}"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not self._re.fullmatch(value):
            raise self.make_error("invalid")  # no exponents, signs, spaces or leading padding
        try:
            amount = Decimal(value)
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise self.make_error("invalid")
        if amount > Decimal("99999999.99"):
            raise self.make_error("invalid")
        return amount


class Pattern(ma.validate.Regexp):
    """`Regexp` that must match the whole value. Patterns keep `^...$`, which the OpenAPI
    document shows as they are, but Python's `$` also matches before a final newline."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def Currency(**kwargs: Any) -> ma.fields.String:
    """An ISO 4217 currency code."""
    from babel.numbers import list_currencies

    return ma.fields.String(
        validate=[
            Pattern(CURRENCY_RE, error="Expected an ISO 4217 code like MAD."),
            ma.validate.OneOf(sorted(list_currencies()), error="Unknown ISO 4217 currency."),
        ],
        **kwargs,
    )


# --- pagination ---------------------------------------------------------------------------------


# Past any table's end, and within PostgreSQL's bigint: `?page=99999999999999999999` is an
# empty page like any other page past the last, not an out-of-range error.
MAX_OFFSET = 2**62


def page_offset(page: int, page_size: int) -> int:
    """The OFFSET of a 1-based page."""
    return min((page - 1) * page_size, MAX_OFFSET)


def paginate(stmt: sa.Select[Any], params: PaginationParameters) -> list[Any]:
    """Run `stmt` for one page, setting the total on `params` for the X-Pagination header."""
    from bookme.core.db import session

    sess = session()
    total = sess.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    params.item_count = total.scalar_one()
    page = stmt.limit(params.page_size).offset(page_offset(params.page, params.page_size))
    return list(sess.scalars(page))
