"""The knowledge base in the console: everyone signed in reads and searches, admins edit."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final

import asyncpg
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fte.agent.escalation import TOPIC_REASONS
from fte.auth.dependencies import Forbidden, FormSessionDep, SessionDep
from fte.auth.schemas import Session
from fte.console.templates_env import templates
from fte.db import PoolDep, transaction
from fte.desk import repository as desk_repository
from fte.errors import NotFound
from fte.knowledge import editor, repository

LIST_LIMIT: Final = 200

router = APIRouter(tags=["console"])

TitleForm = Annotated[str, Form(max_length=editor.MAX_TITLE + 100)]
BodyForm = Annotated[str, Form(max_length=editor.MAX_BODY + 1000)]
ReasonForm = Annotated[str | None, Form(max_length=100)]


def _admin(session: Session) -> str:
    """The actor for the audit log; 403 for an agent."""
    if session.user.role != "admin":
        raise Forbidden("admin role required to edit the knowledge base")
    return f"user:{session.user.id}"


def _editor_page(
    request: Request,
    session: Session,
    article: Any,
    form: editor.ArticleForm | None,
    error: str | None = None,
    status_code: int = 200,
    rejections: list[asyncpg.Record] | None = None,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "kb_article.html",
        {
            "session": session,
            "article": article,
            "form": form,
            "error": error,
            "reasons": TOPIC_REASONS,
            "can_edit": session.user.role == "admin",
            "rejections": rejections or [],
        },
        status_code=status_code,
    )


@router.get("/console/kb", response_class=HTMLResponse, include_in_schema=False)
async def kb_list(
    request: Request,
    pool: PoolDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    text = (q or "").strip() or None
    async with pool.acquire() as conn:
        articles = await repository.list_articles(conn, text, LIST_LIMIT)
    return templates.TemplateResponse(
        request,
        "kb.html",
        {
            "session": session,
            "articles": articles,
            "q": q or "",
            "can_edit": session.user.role == "admin",
        },
    )


@router.get("/console/kb/new", response_class=HTMLResponse, include_in_schema=False)
async def kb_new(
    request: Request,
    session: SessionDep,
    title: Annotated[str, Query(max_length=editor.MAX_TITLE)] = "",
) -> HTMLResponse:
    """The empty form; `title` pre-fills it (the dashboard's knowledge gaps link here)."""
    _admin(session)
    return _editor_page(request, session, None, editor.ArticleForm(title, ""))


@router.post("/console/kb", include_in_schema=False)
async def kb_create(
    request: Request,
    pool: PoolDep,
    session: FormSessionDep,
    title: TitleForm,
    body: BodyForm,
    escalation_reason: ReasonForm = None,
) -> Response:
    form = editor.ArticleForm(title, body, escalation_reason)
    return await _save(request, pool, session, None, form)


@router.get("/console/kb/{article_id}", response_class=HTMLResponse, include_in_schema=False)
async def kb_article(
    request: Request, article_id: uuid.UUID, pool: PoolDep, session: SessionDep
) -> HTMLResponse:
    article = await _article(pool, article_id)
    form = editor.ArticleForm(article["title"], article["body"], article["escalation_reason"])
    async with pool.acquire() as conn:
        # Why people turned down the drafts drawn from this article: what to fix in it.
        rejections = await desk_repository.rejections_for_article(conn, article_id)
    return _editor_page(request, session, article, form, rejections=rejections)


@router.get("/console/kb/{article_id}/status", include_in_schema=False)
async def kb_status(article_id: uuid.UUID, pool: PoolDep, _: SessionDep) -> dict[str, Any]:
    """The article's embedding state: the page polls it until it is no longer pending."""
    article = await _article(pool, article_id)
    return {"status": article["embedding_status"], "error": article["embedding_error"]}


async def _article(pool: asyncpg.Pool, article_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        article = await repository.get_article(conn, article_id)
    if article is None:
        raise NotFound("article not found")
    return article


@router.post("/console/kb/{article_id}", include_in_schema=False)
async def kb_update(
    request: Request,
    article_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    title: TitleForm,
    body: BodyForm,
    escalation_reason: ReasonForm = None,
) -> Response:
    form = editor.ArticleForm(title, body, escalation_reason)
    return await _save(request, pool, session, article_id, form)


async def _save(
    request: Request,
    pool: asyncpg.Pool,
    session: Session,
    article_id: uuid.UUID | None,
    form: editor.ArticleForm,
) -> Response:
    """Create (no id) or update an article, then show it; the form again, with the reason,
    when it is invalid."""
    actor = _admin(session)
    try:
        async with transaction(pool) as conn:
            saved = await editor.save_article(conn, actor, article_id, form)
    except editor.InvalidArticle as exc:
        article = None
        if article_id is not None:
            async with pool.acquire() as conn:
                article = await repository.get_article(conn, article_id)
        return _editor_page(request, session, article, form, exc.message, 422)
    return RedirectResponse(f"/console/kb/{saved}", status_code=303)


@router.post("/console/kb/{article_id}/delete", include_in_schema=False)
async def kb_delete(article_id: uuid.UUID, pool: PoolDep, session: FormSessionDep) -> Response:
    actor = _admin(session)
    async with transaction(pool) as conn:
        await editor.delete_article(conn, actor, article_id)
    return RedirectResponse("/console/kb", status_code=303)
