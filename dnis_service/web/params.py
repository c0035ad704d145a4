"""Numbers in requests, declared as the OpenAPI document promises them but received as sent.

Declared `int`, the framework would convert 60.0, "60" and "1e3" to 60 before any check could
refuse them. Received as sent, the domain's checks (domain/inputs.py) take JSON integers only,
and query parameters written in decimal digits only, and name the field when they refuse.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import KwargDefinition, QueryParameter

from dnis_service.domain import inputs

# A JSON integer in a body, or null (or absent) for the default.
JsonInteger = Annotated[Any, KwargDefinition(schema_extra={"type": ["integer", "null"]})]

# The `limit` of a listing: 1 to inputs.MAX_PAGE rows, inputs.DEFAULT_PAGE when absent.
PageSize = Annotated[Any, QueryParameter(schema_extra={
    "type": "integer", "minimum": 1, "maximum": inputs.MAX_PAGE, "default": inputs.DEFAULT_PAGE,
})]


def page_size(limit: object) -> int:
    return inputs.DEFAULT_PAGE if limit is None else inputs.decimal_integer(limit, "limit", 1, inputs.MAX_PAGE)
