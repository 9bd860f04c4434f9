"""The shapes of the API's JSON (pydantic, through django-ninja): the OpenAPI document at
/api/v1/openapi.json is generated from these, and the tests check every response against that document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import BaseModel, ConfigDict


class ErrorOut(Schema):
    detail: str | list[dict[str, Any]]


class ElectionLinks(Schema):
    page: str
    pdf: str | None
    pots: str
    proposals: str
    results: str
    turnout: str


class ElectionOut(Schema):
    slug: str
    name: str
    description: str
    city: str
    currency: str
    phase: str
    rule: str
    certified_at: dt.datetime
    manifest_sha256: str
    council_key_fingerprint: str
    links: ElectionLinks


class ElectionPage(Schema):
    results: list[ElectionOut]
    next: str | None


class PotOut(Schema):
    slug: str
    name: str
    is_citywide: bool
    budget: int
    ballot_type: str
    min_selections: int
    max_selections: int | None
    points_total: int | None
    points_max_per_project: int | None
    embed: str


class PotList(Schema):
    results: list[PotOut]


class ProposalOut(Schema):
    code: str
    title: str
    description: str
    language: str
    pot: str
    category: str | None
    status: str
    cost: int
    adjusted_cost: int | None
    cost_note: str
    location: str
    latitude: str | None
    longitude: str | None
    image: str | None
    review_reason: str
    merged_into: str | None
    page: str


class ProposalPage(Schema):
    results: list[ProposalOut]
    next: str | None


class Round(BaseModel):
    """One decision of the count as the engine explained it; rules add keys of their own (exact amounts,
    structured `why`), passed through as published."""

    model_config = ConfigDict(extra="allow")
    project: str | None = None
    decision: str | None = None
    reason: str | None = None


class TieBreakOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    candidates: list[str]
    winner: str
    reason: str


class FundedProject(Schema):
    id: str
    name: str
    cost: int | None
    score: int | None


class UnfundedProject(FundedProject):
    reason: str
    why: Any = None


class PotResult(Schema):
    slug: str
    name: str
    ballot_type: str
    budget: int
    total_cost: int
    ballots: int
    paper_ballots: int | None
    under_k: bool
    anonymity_k: int
    funded: list[FundedProject]
    unfunded: list[UnfundedProject]
    rounds: list[Round]
    tie_breaks: list[TieBreakOut]
    voters_with_funded: float | None
    budget_used: float | None


class ResultsOut(Schema):
    election: str
    rule: str
    currency: str
    certified_at: dt.datetime
    manifest_sha256: str
    pots: list[PotResult]


class TurnoutRow(Schema):
    pot: str
    pot_name: str
    channel: str | None
    booth: str | None
    voters: int
    merged: bool
    under_k: bool
    merged_channels: list[str]


class TurnoutOut(Schema):
    election: str
    anonymity_k: int
    rows: list[TurnoutRow]
