"""JSON request bodies decoded so that every malformed one is a client error (400), never a 500."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, SerializationException

# No operation takes JSON nested deeper than a few levels; deeper bodies are refused before any
# code walks them recursively (encoders, the database's jsonb, error messages).
MAX_JSON_DEPTH = 32


class JsonBodyRequest(Request[Any, Any, Any]):
    """Litestar answers 400 to JSON its decoder refuses, but lets through as 500 a body that is not
    UTF-8 (UnicodeDecodeError) or nested past the interpreter's recursion limit (RecursionError),
    and answers 500 to any decoding error met inside a handler that reads the body itself."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except SerializationException as error:
            # msgspec 0.23 and later refuse invalid UTF-8 themselves, without saying where.
            utf8 = await self._utf8_error() if "UTF-8" in str(error) else None
            raise ClientException(utf8 or str(error)) from None
        except UnicodeDecodeError as error:
            raise ClientException(utf8_error(error)) from None
        except RecursionError:
            raise ClientException(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep") from None
        if not nested_at_most(value, MAX_JSON_DEPTH):
            raise ClientException(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep")
        return value

    async def _utf8_error(self) -> str | None:
        """The invalid UTF-8 in the body, if that is what the decoder refused."""
        try:
            (await self.body()).decode()
        except UnicodeDecodeError as error:
            return utf8_error(error)
        return None


def utf8_error(error: UnicodeDecodeError) -> str:
    return f"JSON is not valid UTF-8 (byte {error.start})"


def nested_at_most(value: Any, levels: int) -> bool:
    """Whether value (decoded JSON: plain dicts and lists) has at most `levels` levels of arrays and
    objects; level by level, without recursion. Exact type tests, the fastest: a 10 MB bulk body
    of 130,000 phones is walked in about 65 ms."""
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(levels):
        inner: list[Any] = []
        for container in level:
            for item in container.values() if type(container) is dict else container:
                if type(item) is dict or type(item) is list:
                    inner.append(item)
        if not inner:
            return True
        level = inner
    return False
