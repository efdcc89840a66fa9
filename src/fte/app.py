"""create_app(): middleware, error handlers, routers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fte import __version__, openapi
from fte.bus import kafka
from fte.channels.registry import build_registry
from fte.config import Settings, get_settings
from fte.console import routes as console
from fte.customers.api_routes import router as customer_api_router
from fte.customers.order_routes import router as customer_data_router
from fte.customers.routes import router as customers_router
from fte.db import DB_LOST, create_pool
from fte.errors import install_error_handlers
from fte.kit.body_limit import BodyLimitMiddleware
from fte.kit.cache import Cache
from fte.kit.logging import configure
from fte.kit.request_id import RequestIdMiddleware
from fte.kit.security_headers import SecurityHeadersMiddleware
from fte.mcp.http import PATH as MCP_PATH
from fte.mcp.http import McpEndpoint
from fte.ops.http_metrics import HttpMetricsMiddleware
from fte.ops.routes import router as ops_router

log = logging.getLogger(__name__)


async def _open_pool(settings: Settings, database_url: str) -> asyncpg.Pool:
    try:
        return await create_pool(
            database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
    except DB_LOST as exc:
        # Start anyway: /health says the database is inactive and connections are made
        # on demand once it is back.
        log.warning("database unreachable at start (%s); serving degraded", type(exc).__name__)
        return await create_pool(database_url, min_size=0, max_size=settings.db_pool_max)


async def _check_topics(settings: Settings) -> None:
    """Say at start what is wrong with the Kafka topics; intake works regardless (the outbox)."""
    probe = await kafka.probe_at_start(settings, "messages wait in the outbox until it is back")
    if probe is not None and not probe.ok:
        log.error("Kafka topics: %s; %s", probe.problems(), probe.fix())


def create_app(database_url: str, settings: Settings | None = None) -> FastAPI:
    """The API and the web form, on the given database."""
    settings = settings or get_settings()

    mcp = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await _open_pool(settings, database_url)
        app.state.cache = Cache(settings.redis_url, settings.cache_memory_entries)
        gc.freeze()  # the app's long-lived objects: out of the collector's full collections
        check = asyncio.create_task(_check_topics(settings)) if settings.bus == "kafka" else None
        try:
            async with mcp.running(app.state.pool):
                yield
        finally:
            if check is not None:
                check.cancel()
            await app.state.pool.close()
            await app.state.cache.close()

    app = FastAPI(title="Customer Success FTE", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.adapters = build_registry(settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the body limit: a refused body's answer is headed like every other.
    app.add_middleware(
        SecurityHeadersMiddleware,
        https=settings.base_url.startswith("https://"),
        docs_paths=[
            p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p
        ],
    )
    # Around everything but the request id: it times the whole request, sees the final status.
    app.add_middleware(HttpMetricsMiddleware)
    # Outermost of all: even a refused body is answered with its request id.
    app.add_middleware(RequestIdMiddleware)
    # Outside even that: the client address (rate limits, sign-in limits, logs) is the
    # rightmost X-Forwarded-For hop not in FTE_TRUSTED_PROXIES, and the header of any other
    # peer is ignored, whatever server runs the app (`fte serve` turns uvicorn's own off).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    install_error_handlers(app)

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.CannotConnectNowError)
    @app.exception_handler(ConnectionError)
    async def _database_lost(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database lost during a request: %s", type(exc).__name__)
        return JSONResponse(
            {"error": "database unavailable", "detail": type(exc).__name__}, status_code=503
        )

    app.include_router(ops_router)
    # Every channel's routes, configured or not: an unconfigured channel's webhook says 404.
    for adapter in app.state.adapters.values():
        channel_router = adapter.router()
        if channel_router is not None:
            app.include_router(channel_router)
    console.install(app)
    app.include_router(customers_router)
    # A route, not a mount: `/mcp` itself answers, with no redirect to `/mcp/`.
    app.router.routes.append(Route(MCP_PATH, mcp, methods=["GET", "POST", "DELETE"]))
    app.include_router(customer_api_router)
    app.include_router(customer_data_router)

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/support")

    openapi.install(app)

    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn: the database comes from DATABASE_URL (set by `fte serve`)."""
    settings = get_settings()
    # uvicorn's worker processes start fresh: log like the parent (text or JSON).
    configure(settings.log_level, "api", settings.log_format)
    if settings.database_url is None:
        raise RuntimeError("DATABASE_URL is not set; start the API with `fte serve` or `fte up`")
    return create_app(settings.database_url, settings)
