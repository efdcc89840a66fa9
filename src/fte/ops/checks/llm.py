"""The language model endpoint, when one is configured: reachable, and the key accepted."""

from __future__ import annotations

import openai

from fte.agent.responders.openai_compatible import NO_API_KEY
from fte.ops.checks.base import Context, Result, fail, passed, skip, warn

TIMEOUT_SECONDS = 5.0


async def check_llm(ctx: Context) -> Result:
    """One one-token completion: 401/403 is a bad key (FAIL), 429 a rate limit (WARN)."""
    s = ctx.settings
    if not s.llm_base_url:
        return skip("FTE_LLM_BASE_URL unset: the local responder writes replies")
    client = openai.AsyncOpenAI(
        base_url=s.llm_base_url,
        api_key=s.llm_api_key or NO_API_KEY,
        timeout=TIMEOUT_SECONDS,
        max_retries=0,
    )
    try:
        await client.chat.completions.create(
            model=s.llm_model, messages=[{"role": "user", "content": "ping"}], max_tokens=1
        )
    except openai.AuthenticationError as exc:
        return fail(
            f"{s.llm_base_url} refused the key ({exc.status_code})",
            "set FTE_LLM_API_KEY to a valid key (see runbook: LLM provider failing)",
        )
    except openai.PermissionDeniedError as exc:
        return fail(
            f"{s.llm_base_url} denied the request ({exc.status_code})",
            "the key lacks access to FTE_LLM_MODEL; check the provider's console",
        )
    except openai.RateLimitError:
        return warn(
            f"{s.llm_base_url} rate-limited the probe (429)",
            "a rate limit or exhausted quota: replies fall back to the local responder meanwhile",
        )
    except openai.NotFoundError:
        return fail(
            f"{s.llm_base_url}: model {s.llm_model!r} or the endpoint not found (404)",
            "check FTE_LLM_BASE_URL (it ends in /v1) and FTE_LLM_MODEL",
        )
    except openai.APIStatusError as exc:
        return fail(
            f"{s.llm_base_url} answered {exc.status_code}",
            "the provider fails: its status page; replies fall back to the local responder",
        )
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        return fail(
            f"{s.llm_base_url} unreachable ({type(exc).__name__})",
            "check FTE_LLM_BASE_URL and the network (egress allows 443 only)",
        )
    finally:
        await client.close()
    return passed(f"{s.llm_base_url} answers as {s.llm_model}")
