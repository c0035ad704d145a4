"""Hypothesis strategies for what careless and hostile callers send: arbitrary bytes, wrong text
encodings, deep nesting, huge and negative numbers, floats, texts with surrogates, NUL and control
characters, absurd dates, CSV a spreadsheet or a fuzzer wrote, SOAP envelopes with odd bodies or
a DTD in any encoding, and arbitrary header values."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from hypothesis import strategies as st

# Every body field and query parameter name the API knows, so that generated bodies get past the
# framework's checks to the domain's.
FIELDS = [
    "id", "group", "timeoutSeconds", "digits", "historySearchId", "callReturnNumber", "phoneNumber", "dnId",
    "groupName", "enabled", "uniqueId", "userData", "operationName", "campaignId", "smsText", "tokenTtlSeconds",
    "from", "callerId", "jpToken", "additionalParams", "tenantId", "name", "environments", "kind", "environment",
    "userId", "password", "defaultTimeoutSeconds", "maxTimeoutSeconds", "quarantineSeconds", "dtmfDigits",
    "smsProvider", "url", "account", "secret",
]
# Names that exist in the fuzzed database (see tests/test_malformed_requests.py), so that requests
# get past "not found" to the rules.
KNOWN_NAMES = ["12345678", "87654321", "15550000001", "0001", "i1", "c1", "campaign", "interaction", "dtmf",
               "callReturn", "clickToCall", "historySearchId", "operator", "default", "Aejhib7", "15551234567"]
QUERY_NAMES = ["limit", "after", "at", "from", "to", "groupName", "enabled", "state", "force", "uniqueId", "wsdl"]

_ODD_CHARACTERS = "\x00\x01\x08\x1b\x1f\x7f\x85\u2028\ufeff\ufffe\uffff\U0010ffff"
characters = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates, which no UTF-8 can carry
    st.sampled_from(_ODD_CHARACTERS),
)
texts = st.one_of(
    st.text(characters, max_size=30),
    st.sampled_from(["", " ", "0", "-1", "null", "true", "1.0", "60", "1e3", "x" * 300, "9" * 5000]),
)
# Texts that can travel in a URL or an XML document (which hold no lone surrogate).
plain_texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)

EXTREME_INTEGERS = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63, -(2**63) - 1, 10**30]
integers = st.one_of(st.integers(), st.sampled_from(EXTREME_INTEGERS))
floats = st.floats(allow_nan=False, allow_infinity=False)
# Numbers JSON can write but Python's json module cannot produce from a value.
RAW_NUMBERS = ["1e400", "-1e400", "1E3", "60.0", "-0", "0.0000001", "1" + "0" * 400, "2147483648", "-2147483649"]



def _offset(minutes: int) -> str:
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}"


OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(_offset)
dates = st.one_of(
    st.sampled_from([
        "9999-12-31T23:59:59.999999-23:59", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59", "0001-01-01T00:00:00",
        "0001-01-01T00:00:00+23:59", "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "2024-02-30T00:00:00Z",
        "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+99:99", "1e20", "-1", "99999999999999999999", "today",
    ]),
    st.builds(lambda year, offset: f"{year:04}-12-31T23:59:59{offset}", st.sampled_from([1, 2, 9998, 9999]), OFFSETS),
    st.datetimes().map(lambda moment: moment.isoformat()),
)


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), integers, floats, texts)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | texts, inner, max_size=4),
        max_leaves=12,
    )


def _encoded(text: str, encoding: str) -> bytes:
    """Lone surrogates as the invalid bytes they make; what Latin-1 cannot write as '?'."""
    try:
        return text.encode(encoding, "surrogatepass")
    except UnicodeEncodeError:
        return text.encode(encoding, "replace")


encodings = st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"])

class Raw(str):
    """A JSON value written as is: numbers json.dumps cannot write (1e400, 60.0, -0)."""


def json_text(value: Any, ascii_only: bool = True) -> str:
    raws: list[str] = []

    def placeholder(raw: Raw) -> str:
        raws.append(raw)
        return f"@@raw{len(raws) - 1}@@"

    def swap(item: Any) -> Any:
        if isinstance(item, Raw):
            return placeholder(item)
        if isinstance(item, dict):
            return {key: swap(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [swap(inner) for inner in item]
        return item

    text = json.dumps(swap(value), ensure_ascii=ascii_only)
    for number, raw in enumerate(raws):
        text = text.replace(f'"@@raw{number}@@"', raw)
    return text


hostile_values = st.one_of(json_values(), st.sampled_from([Raw(number) for number in RAW_NUMBERS]),
                           integers.map(str), floats)

# A body each operation takes, by method and path; the fuzzer sends it with some values replaced.
GOOD_BODIES: list[tuple[str, str, Any]] = [
    ("POST", r"/allocate/new$", {"id": "u1", "group": "g", "timeoutSeconds": 60, "historySearchId": "h1",
                                 "callReturnNumber": "15551230000"}),
    ("POST", r"/allocate/dtmf$", {"id": "u2", "digits": 5, "timeoutSeconds": 60}),
    ("POST", r"/allocate/extend/", {"id": "i1", "timeoutSeconds": 60}),
    ("POST", r"/dnis/bulk$", [{"phoneNumber": "15559990001", "dnId": "d1", "groupName": "g", "enabled": True}]),
    ("POST", r"/dnis$", {"phoneNumber": "15559990000", "dnId": "d0", "groupName": "g", "enabled": True}),
    ("PUT", r"/dnis/\{", {"dnId": "d2", "groupName": "g", "enabled": False}),
    ("POST", r"/interactions$", {"uniqueId": "u3", "userData": {"historySearchId": "h3", "callReturnNumber": "1555"}}),
    ("POST", r"/interactions/", {"operationName": "UpdateUserData", "userData": {"k": "v", "historySearchId": "h"}}),
    ("POST", r"/campaigns$", {"campaignId": "c2", "smsText": "hi", "tokenTtlSeconds": 60, "from": "15550001111"}),
    ("PUT", r"/campaigns/", {"smsText": "hi", "tokenTtlSeconds": 60, "from": "15550001111"}),
    ("POST", r"/generateToken/", {"callerId": "15551234567"}),
    ("POST", r"/updateIncomingCallsCount/|/sms/notify/", {"callerId": "15551234567", "jpToken": "Aejhib7"}),
    ("POST", r"/campaign/sms/\{", {"callerId": "15551234567", "jpToken": "Aejhib7", "from": "15550001111",
                                   "additionalParams": "a=b"}),
    ("POST", r"/tenants$", {"tenantId": "t2", "name": "n", "environments": ["e1"]}),
    ("POST", r"/applications$", {"kind": "web", "name": "n", "environment": "default"}),
    ("POST", r"/users$", {"userId": "u2", "password": "password123"}),
    ("PATCH", r"/settings$", {"defaultTimeoutSeconds": 60, "maxTimeoutSeconds": 600, "quarantineSeconds": 0,
                              "dtmfDigits": 5, "smsProvider": {"url": "http://x", "account": "a", "secret": "s"}}),
]


def _mutated(value: Any) -> st.SearchStrategy[Any]:
    """value, with any of its fields (at any depth) kept, dropped or replaced by a hostile value."""
    if isinstance(value, dict):
        kept = st.fixed_dictionaries({}, optional={key: _mutated(inner) for key, inner in value.items()})
        return st.one_of(st.fixed_dictionaries({key: _mutated(inner) for key, inner in value.items()}), kept)
    if isinstance(value, list):
        return st.lists(_mutated(value[0]), max_size=3) if value else st.just(value)
    return st.one_of(st.just(value), st.just(value), hostile_values)


def good_body(method: str, template: str) -> Any | None:
    return next((body for wanted, path, body in GOOD_BODIES if wanted == method and re.search(path, template)), None)


def bodies_for(method: str, template: str) -> st.SearchStrategy[bytes | None]:
    """What the operation at (method, template) gets: its good body with values replaced, or anything."""
    good = good_body(method, template)
    if good is None:
        return bodies
    mutated = st.builds(lambda value, ascii_only, encoding: _encoded(json_text(value, ascii_only), encoding),
                        _mutated(good), st.booleans(), encodings)
    return st.one_of(mutated, mutated, mutated, bodies)


def _nest(shape: str, depth: int) -> bytes:
    if shape == "array":
        return b"[" * depth + b"]" * depth
    if shape == "object":
        return b'{"id":' * depth + b'"u"' + b"}" * depth
    return b'{"uniqueId": "i9", "userData": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


deep_json = st.builds(_nest, st.sampled_from(["array", "object", "userData"]), st.integers(1, 3000))


csv_bodies = st.builds(
    lambda bom, header, rows, encoding: _encoded(("\ufeff" if bom else "") + "\n".join([header, *rows]), encoding),
    st.booleans(),
    st.sampled_from(["phoneNumber", "phoneNumber,dnId,groupName,enabled", "dnId", "", "phoneNumber,phoneNumber",
                     '"phoneNumber', "phoneNumber\r"]),
    st.lists(st.lists(texts, max_size=5).map(",".join) | st.just("1" * 200_000) | st.just('"unclosed'), max_size=4),
    encodings,
)

json_bodies = st.one_of(deep_json, json_values().map(lambda v: json_text(v).encode()))
bodies = st.one_of(st.none(), st.binary(max_size=300), json_bodies, csv_bodies)

ENVELOPE = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="{ns}">'
            "{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>")
AGENT_NS = "http://com/jacada/interact/agent/soap"
DNIS_NS = "http://com/jacada/interact/dnis/soap"
OPERATIONS = {
    "GetInteractionUniqueIdRequest": (AGENT_NS, ["searchCreteria", "searchValue"]),
    "GetDnisAllocationRequest": (AGENT_NS, ["phone"]),
    "AllocateDnisRequest": (AGENT_NS, ["uniqueId", "group"]),
    "UpdateIncomingCallsCountRequest": (AGENT_NS, ["jpToken", "campaignId", "interactionId", "callerId"]),
    "CampaignSMSRequest": (AGENT_NS, ["campaignId", "additionalParams", "callerId", "from", "sendFromMasterAccount",
                                      "jpToken"]),
    "FreeDnisAllocationRequest": (DNIS_NS, ["phone"]),
    "CreatePhoneRequest": (DNIS_NS, ["phoneNumber", "dnId", "groupName", "enabled"]),
}
# Texts an XML document can carry (no lone surrogates, no control characters).
xml_texts = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30)
soap_values = st.one_of(st.sampled_from([*KNOWN_NAMES, "true", "false", "", "x" * 300]), xml_texts)
ODD_BODIES = ["", " \n ", "text", "<a:Unknown/>", "<a:GetDnisAllocationRequest/><a:Second/>", "<soapenv:Fault/>",
              "<a:GetDnisAllocationRequest><a:phone><b/></a:phone></a:GetDnisAllocationRequest>"]
HEADERS = ["", "<soapenv:Header/>", "<soapenv:Header><a:x>1</a:x></soapenv:Header>"]
DTDS = ['<!DOCTYPE x [<!ENTITY e "e">]>', '<!DOCTYPE soapenv:Envelope SYSTEM "file:///etc/passwd">',
        '<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>']


@st.composite
def soap_envelopes(draw: st.DrawFn) -> bytes:
    """An envelope calling an operation with values that exist, odd ones, or fields left out; or one
    whose Body is empty, blank, text or unknown; with or without a DTD, in any encoding."""
    operation = draw(st.sampled_from(list(OPERATIONS)))
    namespace, fields = OPERATIONS[operation]
    values = [draw(st.one_of(st.none(), soap_values, soap_values, soap_values)) for _ in fields]
    calls = "".join(f"<a:{name}>{escape(value)}</a:{name}>" for name, value in zip(fields, values, strict=True)
                    if value is not None)
    inner = draw(st.sampled_from([f"<a:{operation}>{calls}</a:{operation}>"] * 6 + ODD_BODIES))
    namespace = draw(st.sampled_from([namespace] * 8 + [AGENT_NS, DNIS_NS, "urn:other"]))
    dtd = draw(st.sampled_from([""] * 6 + DTDS))
    encoding = draw(encodings)
    declaration = f'<?xml version="1.0" encoding="{encoding.removesuffix("-le").removesuffix("-be")}"?>'
    envelope = ENVELOPE.format(ns=namespace, header=draw(st.sampled_from(HEADERS)), body=inner)
    return _encoded((declaration if draw(st.booleans()) else "") + dtd + envelope, encoding)


soap_bodies = st.one_of(
    soap_envelopes(), soap_envelopes(), soap_envelopes(),
    st.binary(max_size=300),
    st.sampled_from([b"", b"<", b"<x/>", b"\xef\xbb\xbf<x/>", "<!DOCTYPE x><x/>".encode("utf-16-be")]),
)

header_values = st.one_of(
    st.binary(max_size=40),
    st.text(st.characters(max_codepoint=255), max_size=40).map(lambda text: text.encode("latin-1")),
    st.sampled_from([b"", b" ", b"\xff", b"\xc3\xa9", b"=", b"Zm9v", b"AA==", b"/w==", b"gA==", b"YQBi"]),
)
content_types = st.sampled_from([
    b"application/json", b"text/csv", b"text/xml; charset=utf-8", b"text/xml; charset=utf-16",
    b"application/soap+xml", b"multipart/related; boundary=x", b"text/plain", b"application/json; charset=latin-1",
    b"\xff\xfe", b"",
])


def _percent_bytes(values: list[int]) -> str:
    return "".join(f"%{value:02X}" for value in values)


url_values = st.one_of(
    st.sampled_from(KNOWN_NAMES),
    plain_texts.map(lambda text: quote(text, safe="")),
    st.lists(st.integers(0, 255), min_size=1, max_size=6).map(_percent_bytes),  # %ED%A0%80, %FF, %00 ...
    st.sampled_from(["%ED%A0%80", "%00", "%C0%80", "9" * 3000]),
)
query_values = st.one_of(url_values, dates.map(lambda text: quote(text, safe="")), integers.map(str),
                         st.sampled_from(["10", "true", "free", "i1", *RAW_NUMBERS]))
queries = st.dictionaries(st.sampled_from(QUERY_NAMES), query_values, max_size=3).map(
    lambda params: "&".join(f"{name}={value}" for name, value in params.items()))
