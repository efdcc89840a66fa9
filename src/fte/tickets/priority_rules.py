"""Priority rules: conditions on what we know of a ticket's customer (their profile) and of
the message (its sentiment, its channel) that raise the ticket's priority, with the reason
shown on the ticket ("high: top 5% by value").

Pure evaluation over given facts; the rules are rows of `priority_rules` (an admin changes
them with `fte priority` without a redeploy) and the facts come from
`priority_repository.facts_and_rules`. A rule only ever raises a priority: a ticket already
at or above it keeps its own, and a priority a person chose is never touched again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fte.config import Priority

PRIORITIES: Final[tuple[Priority, ...]] = ("low", "medium", "high", "urgent")
Sentiment = Literal["negative", "neutral", "positive"]


def rank(priority: str) -> int:
    """low 0 … urgent 3; an unknown priority ranks below every rule."""
    return PRIORITIES.index(priority) if priority in PRIORITIES else -1


class Conditions(BaseModel):
    """All the conditions set must hold (and); a list means any of its values (or)."""

    model_config = ConfigDict(extra="forbid")

    value_percentile_min: float | None = Field(
        default=None, ge=0, le=1, description="Share of customers with a lower lifetime value."
    )
    churn_risk_min: float | None = Field(default=None, ge=0, le=1)
    lifetime_value_min: float | None = Field(default=None, ge=0)
    orders_min: int | None = Field(default=None, ge=0)
    segment: list[str] | None = None
    plan: list[str] | None = None
    sentiment: list[Sentiment] | None = None
    channel: list[str] | None = None

    @model_validator(mode="after")
    def _something(self) -> Conditions:
        # A rule without a condition would raise every ticket: surely a mistake.
        if not self.model_dump(exclude_none=True):
            raise ValueError("a rule needs at least one condition")
        return self


class PriorityRule(BaseModel):
    """Tickets whose facts meet `when` get at least `priority`, for `reason`."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority
    reason: str = Field(min_length=1, max_length=120)
    when: Conditions


@dataclass(frozen=True)
class Facts:
    """What a rule may look at; None where it is not known (no profile yet, no sentiment yet)."""

    value_percentile: float | None = None
    churn_risk: float | None = None
    lifetime_value: float | None = None
    orders: int | None = None
    segment: str | None = None
    plan: str | None = None
    sentiment: str | None = None
    channel: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any] | None, **message: str | None) -> Facts:
        """From a customer's row of `facts_and_rules` (None: unknown customer) and the
        message's own facts (`sentiment`, `channel`)."""
        known = dict(row or {})

        def number(key: str) -> float | None:
            value = known.get(key)
            return float(value) if value is not None else None

        orders = known.get("orders")
        return cls(
            value_percentile=number("value_percentile"),
            churn_risk=number("churn_risk"),
            lifetime_value=number("lifetime_value"),
            orders=int(orders) if orders is not None else None,
            segment=known.get("segment"),
            plan=known.get("plan"),
            sentiment=message.get("sentiment"),
            channel=message.get("channel"),
        )


@dataclass(frozen=True)
class Outcome:
    """The priority the rules give a ticket and the reason label stored with it."""

    priority: Priority
    reason: str  # "high: top 5% by value"


def _at_least(value: float | None, floor: float | None) -> bool:
    return floor is None or (value is not None and value >= floor)


def _one_of(value: str | None, allowed: Sequence[str] | None) -> bool:
    return allowed is None or (value is not None and value in allowed)


def matches(conditions: Conditions, facts: Facts) -> bool:
    """Whether every condition set holds for these facts (an unknown fact holds none)."""
    c = conditions
    return (
        _at_least(facts.value_percentile, c.value_percentile_min)
        and _at_least(facts.churn_risk, c.churn_risk_min)
        and _at_least(facts.lifetime_value, c.lifetime_value_min)
        and _at_least(facts.orders, c.orders_min)
        and _one_of(facts.segment, c.segment)
        and _one_of(facts.plan, c.plan)
        and _one_of(facts.sentiment, c.sentiment)
        and _one_of(facts.channel, c.channel)
    )


def evaluate(rules: Iterable[PriorityRule], facts: Facts) -> Outcome | None:
    """The highest priority among the rules that match (the first such rule gives the
    reason); None when none does."""
    best: PriorityRule | None = None
    for rule in rules:
        if matches(rule.when, facts) and (
            best is None or rank(rule.priority) > rank(best.priority)
        ):
            best = rule
    if best is None:
        return None
    return Outcome(best.priority, f"{best.priority}: {best.reason}")


def raises(outcome: Outcome | None, current: str) -> bool:
    """Whether the outcome would raise a ticket now at `current` (rules never lower one)."""
    return outcome is not None and rank(outcome.priority) > rank(current)


def parse(rows: Iterable[Mapping[str, Any]]) -> list[PriorityRule]:
    """Rules from `priority_rules` rows (priority, reason, conditions)."""
    return [
        PriorityRule(priority=r["priority"], reason=r["reason"], when=r["conditions"]) for r in rows
    ]


def _share(value: float) -> str:
    return f"{value:g}"


def describe(conditions: Conditions) -> str:
    """The conditions in plain words: "value percentile ≥ 0.95 and sentiment is negative"."""
    c = conditions
    words: list[str] = []
    for label, floor in (
        ("value percentile", c.value_percentile_min),
        ("churn risk", c.churn_risk_min),
        ("lifetime value", c.lifetime_value_min),
        ("orders", c.orders_min),
    ):
        if floor is not None:
            words.append(f"{label} ≥ {_share(floor)}")
    for label, allowed in (
        ("segment", c.segment),
        ("plan", c.plan),
        ("sentiment", c.sentiment),
        ("channel", c.channel),
    ):
        if allowed is not None:
            verb = "is" if len(allowed) == 1 else "is one of"
            words.append(f"{label} {verb} {', '.join(allowed)}")
    return " and ".join(words)


def sentence(rule: PriorityRule) -> str:
    """One rule in plain words: "high: top 5% by value — when value percentile ≥ 0.95"."""
    return f"{rule.priority}: {rule.reason} — when {describe(rule.when)}"
