"""The composition root: one litestar app serving REST (web/) and SOAP (soap/), which know nothing
of each other, with the pool and the jobs in its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from dnis_service.config import Settings
from dnis_service.db.pool import create_pool
from dnis_service.domain.allocations import Limits
from dnis_service.domain.auth import Authenticator
from dnis_service.domain.credential_cache import CredentialCache
from dnis_service.jobs import Jobs
from dnis_service.soap.asgi import soap_routes
from dnis_service.web.admin import AdminController, PlannerController
from dnis_service.web.bodies import JsonBodyRequest
from dnis_service.web.dnis import DnisController
from dnis_service.web.errors import exception_handlers
from dnis_service.web.interactions import InteractionController, LookupController
from dnis_service.web.journeys import JourneyControllerV2, JourneyControllerV3
from dnis_service.web.openapi import openapi_config
from dnis_service.web.operations import HttpRequestMiddleware, live, prometheus, ready
from dnis_service.web.state import provide_caller, provide_credential_cache, provide_db, provide_limits

log = logging.getLogger(__name__)


def create_app(settings: Settings, database_url: str) -> Litestar:
    """An app whose lifespan opens (and closes) the connection pool to database_url."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.db = await create_pool(
            database_url, settings.pool_min_size, settings.pool_max_size, settings.statement_timeout_seconds
        )
        authenticator: Authenticator = app.state.authenticator
        listening = (asyncio.create_task(authenticator.credential_cache.listen(app.state.db))
                     if settings.auth_cache_seconds > 0 else None)
        jobs = Jobs(app.state.db, settings) if settings.run_jobs else None
        if jobs is not None:
            jobs.start()
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.stop()
            if listening is not None:
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)
            await app.state.db.close()
            log.info("database pool closed")

    return Litestar(
        route_handlers=[
            DnisController, LookupController, InteractionController, JourneyControllerV2, JourneyControllerV3,
            AdminController, PlannerController,
            live, ready, prometheus,
            *soap_routes(settings),
        ],
        # The access log is for a log pipeline (JSON); on a terminal, one line per request is noise.
        middleware=[HttpRequestMiddleware(access_log=settings.log_format == "json",
                                          deadline_seconds=settings.statement_timeout_seconds)],
        request_class=JsonBodyRequest,
        lifespan=[lifespan],
        dependencies={
            "db": Provide(provide_db, sync_to_thread=False),
            "caller": Provide(provide_caller),
            "limits": Provide(provide_limits, sync_to_thread=False),
            "credential_cache": Provide(provide_credential_cache, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        state=_initial_state(settings),
        openapi_config=openapi_config(),
        logging_config=None,
    )


def _initial_state(settings: Settings) -> State:
    return State({
        "settings": settings,
        "limits": Limits(settings.default_timeout_seconds, settings.max_timeout_seconds, settings.retention_days),
        "authenticator": Authenticator(CredentialCache(settings.auth_cache_seconds)),
    })
