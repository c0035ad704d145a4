"""REST: the phone pool and its allocations (docs/rest.md), under /interact/version/2/dnis."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post, put
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from dnis_service.domain import allocations, dtmf, inputs, phones
from dnis_service.domain.allocations import Allocation
from dnis_service.domain.auth import AppKind
from dnis_service.domain.errors import ImportTooLarge, InvalidInput, PoolExhausted
from dnis_service.web.openapi import json_body, protected, text
from dnis_service.web.params import JsonInteger, PageSize, page_size
from dnis_service.web.state import CallerOf, Db, LimitsOf

TEXT = MediaType.TEXT


class NewPhone(msgspec.Struct):
    phoneNumber: str
    dnId: str | None = None
    groupName: str | None = None
    enabled: bool = True


class PhoneChanges(msgspec.Struct):
    dnId: str | msgspec.UnsetType | None = msgspec.UNSET
    groupName: str | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class AllocateRequest(msgspec.Struct):
    id: str
    group: str | None = None
    timeoutSeconds: JsonInteger = None
    historySearchId: str | None = None
    callReturnNumber: str | None = None


class DtmfRequest(msgspec.Struct):
    id: str
    digits: JsonInteger = None
    timeoutSeconds: JsonInteger = None
    historySearchId: str | None = None
    callReturnNumber: str | None = None


def lookup_attributes(data: AllocateRequest | DtmfRequest) -> dict[str, object]:
    """The interaction attributes sent along with an allocation, for the uniqueId lookups."""
    sent = {"historySearchId": data.historySearchId, "callReturnNumber": data.callReturnNumber}
    return {key: value for key, value in sent.items() if value is not None}


class ExtendRequest(msgspec.Struct):
    id: str
    timeoutSeconds: JsonInteger = None


class AllocationOut(msgspec.Struct):
    phoneNumber: str | None
    dnId: str | None
    uniqueId: str
    group: str | None
    allocatedAt: datetime
    expiresAt: datetime


class HolderOut(msgspec.Struct):
    uniqueId: str
    allocatedAt: datetime | None
    expiresAt: datetime | None


class PhoneOut(msgspec.Struct):
    id: str
    phoneNumber: str
    dnId: str | None
    groupName: str | None
    enabled: bool
    state: Literal["free", "allocated"]
    allocation: HolderOut | None


class PhonePage(msgspec.Struct):
    phones: list[PhoneOut]
    next: str | None


class HistoryEntryOut(msgspec.Struct):
    uniqueId: str
    group: str | None
    allocatedAt: datetime
    expiresAt: datetime
    endedAt: datetime | None
    endReason: str | None


class HistoryOut(msgspec.Struct):
    phone: str
    at: datetime | None
    allocations: list[HistoryEntryOut]


class PhonesCreated(msgspec.Struct):
    created: int


class Duplicates(msgspec.Struct):
    message: str
    duplicates: list[str]


def allocation_out(allocation: Allocation) -> AllocationOut:
    return AllocationOut(
        phoneNumber=allocation.phone_number, dnId=allocation.dn_id, uniqueId=allocation.unique_id,
        group=allocation.group or None, allocatedAt=allocation.allocated_at, expiresAt=allocation.expires_at,
    )


def phone_out(phone: phones.Phone) -> PhoneOut:
    holder = None if phone.holder is None else HolderOut(phone.holder, phone.allocated_at, phone.expires_at)
    return PhoneOut(
        id=str(phone.phone_id), phoneNumber=phone.phone_number, dnId=phone.dn_id, groupName=phone.group_name or None,
        enabled=phone.enabled, state="free" if holder is None else "allocated", allocation=holder,
    )


NOT_FOUND = text("Phone number <phone> was not found")
TOO_LARGE = text(ImportTooLarge(phones.IMPORT_MAX_BYTES).message)
CONFLICT = text("The request contradicts the phone's state")


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _text(body: str) -> Response[str]:
    return Response(body, media_type=TEXT)


class DnisController(Controller):
    path = "/interact/version/2/dnis"
    tags = ["numbers and allocations"]

    @post("/", status_code=200, media_type=TEXT, **protected(AppKind.DNIS, user=True, _409=text("Phone exists")))
    async def create_phone(self, db: Db, caller: CallerOf, data: JSONBody[NewPhone]) -> str:
        """Create a phone; the body of the answer is its id."""
        spec = phones.phone_spec(msgspec.structs.asdict(data))
        return str(await phones.create_phone(db, caller, spec))

    @post("/bulk", status_code=200, request_max_body_size=phones.IMPORT_MAX_BYTES,
          **protected(AppKind.DNIS, user=True, _409=json_body(Duplicates, "Duplicates"), _413=TOO_LARGE))
    async def create_phones(self, db: Db, caller: CallerOf, request: Request[Any, Any, Any]) -> PhonesCreated:
        """Create many phones from a JSON array or a text/csv body; all or nothing."""
        try:
            if request.content_type[0] != "text/csv":
                specs = phones.phone_specs(await request.json())
            else:
                try:
                    text = (await request.body()).decode("utf-8")
                except UnicodeDecodeError as error:
                    raise InvalidInput(f"csv: not valid UTF-8 (byte {error.start})") from None
                specs = phones.phone_specs_from_csv(text)
        except RequestEntityTooLarge:
            raise ImportTooLarge(phones.IMPORT_MAX_BYTES) from None
        return PhonesCreated(await phones.create_phones(db, caller, specs))

    @get("/", **protected(AppKind.DNIS, user=True))
    async def list_phones(
        self, db: Db, caller: CallerOf,
        group_name: Annotated[str | None, QueryParameter(name="groupName")] = None,
        enabled: FromQuery[bool | None] = None,
        phone_state: Annotated[str | None, QueryParameter(name="state")] = None,
        after: FromQuery[str | None] = None,
        limit: PageSize = None,
    ) -> PhonePage:
        """List phones in phoneNumber order; pass the answer's `next` as `after` for the next page."""
        size = page_size(limit)
        page = await phones.list_phones(db, caller, group_name, enabled, phone_state, after, size)
        return PhonePage([phone_out(p) for p in page], page[-1].phone_number if len(page) == size else None)

    @get("/{phone:str}", **protected(AppKind.DNIS, user=True, _404=NOT_FOUND))
    async def get_phone(self, db: Db, caller: CallerOf, phone: FromPath[str]) -> PhoneOut:
        return phone_out(await phones.get_phone(db, caller, phone))

    @put("/{phone:str}", **protected(AppKind.DNIS, user=True, _404=NOT_FOUND, _409=CONFLICT))
    async def update_phone(
        self, db: Db, caller: CallerOf, phone: FromPath[str], data: JSONBody[PhoneChanges]
    ) -> PhoneOut:
        """Change dnId, groupName and enabled (the fields present)."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        return phone_out(await phones.update_phone(db, caller, phone, changes))

    @delete("/{phone:str}", status_code=200, media_type=TEXT,
            **protected(AppKind.DNIS, user=True, _404=NOT_FOUND, _409=CONFLICT))
    async def delete_phone(self, db: Db, caller: CallerOf, phone: FromPath[str], force: FromQuery[bool] = False) -> str:
        await phones.delete_phone(db, caller, phone, force)
        return ""

    @get("/{phone:str}/history", **protected(AppKind.DNIS, user=True, _404=NOT_FOUND))
    async def phone_history(
        self, db: Db, caller: CallerOf, phone: FromPath[str],
        at: Annotated[str | None, QueryParameter(format="date-time")] = None,
    ) -> HistoryOut:
        """Who held the phone at `at` (ISO 8601; UTC without an offset), or its latest allocations."""
        instant = inputs.moment(at, "at")
        entries = await allocations.phone_history(db, caller, phone, instant)
        return HistoryOut(phone, instant, [
            HistoryEntryOut(e.unique_id, e.group or None, e.allocated_at, e.expires_at, e.ended_at, e.end_reason)
            for e in entries
        ])

    @post("/allocate/new", status_code=200, media_type=TEXT,
          **protected(AppKind.WEB, _403=text(PoolExhausted().message)))
    async def allocate(
        self, db: Db, caller: CallerOf, limits: LimitsOf, data: JSONBody[AllocateRequest],
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """Allocate a phone to an interaction: text/plain phoneNumber, or JSON with Accept."""
        allocation = await allocations.allocate_phone(
            db, caller, limits, data.id, data.group, data.timeoutSeconds, lookup_attributes(data)
        )
        if _wants_json(request):
            return Response(allocation_out(allocation), media_type=MediaType.JSON)
        return _text(allocation.phone_number or "")

    @post("/allocate/dtmf", status_code=200, media_type=TEXT,
          **protected(AppKind.WEB, _403=text(PoolExhausted().message)))
    async def allocate_dtmf(self, db: Db, caller: CallerOf, limits: LimitsOf, data: JSONBody[DtmfRequest]) -> str:
        allocation = await dtmf.allocate_code(
            db, caller, limits, data.id, data.digits, data.timeoutSeconds, lookup_attributes(data)
        )
        return allocation.dtmf_code or ""

    @get("/allocate/get/{phone:str}", media_type=TEXT, **protected(AppKind.DNIS, _404=NOT_FOUND))
    async def holder(self, db: Db, caller: CallerOf, phone: FromPath[str]) -> str:
        """The interaction id holding the phone; empty when it is free."""
        return await allocations.phone_holder(db, caller, phone) or ""

    @post("/allocate/free/{phone:str}", status_code=200, media_type=TEXT,
          **protected(AppKind.DNIS, user=True, _404=NOT_FOUND, _409=CONFLICT))
    async def free(
        self, db: Db, caller: CallerOf, phone: FromPath[str],
        unique_id: Annotated[str | None, QueryParameter(name="uniqueId")] = None,
    ) -> str:
        await allocations.free_phone(db, caller, phone, unique_id)
        return ""

    @post("/allocate/free/dtmf/{code:str}", status_code=200, media_type=TEXT,
          **protected(AppKind.DNIS, user=True, _404=text("DTMF code <code> was not found"), _409=CONFLICT))
    async def free_dtmf(
        self, db: Db, caller: CallerOf, code: FromPath[str],
        unique_id: Annotated[str | None, QueryParameter(name="uniqueId")] = None,
    ) -> str:
        await dtmf.free_code(db, caller, code, unique_id)
        return ""

    @post("/allocate/extend/{phone:str}", status_code=200, **protected(AppKind.WEB, _404=NOT_FOUND))
    async def extend(
        self, db: Db, caller: CallerOf, limits: LimitsOf, phone: FromPath[str], data: JSONBody[ExtendRequest]
    ) -> AllocationOut:
        allocation = await allocations.extend_phone(db, caller, limits, phone, data.id, data.timeoutSeconds)
        return allocation_out(allocation)
