"""Plain data for one procedure version: what the staff form, the xlsx import and the demo seed
produce, and what `procedures.services` validates and writes. One shape for every way in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass
class FeeData:
    name: str
    amount_vnd: int | None = None
    description: str = ""


@dataclass
class DocumentData:
    name: str
    originals: int = 1
    copies: int = 0
    is_mandatory: bool = True
    template_name: str = ""
    template: str = ""  # the stored file (storage path) of the form's template; "" = none


@dataclass
class StepData:
    name: str
    unit_code: str
    role: str
    hours: Decimal
    agency_code: str = ""  # empty: the receiving agency


@dataclass
class TimeLimitData:
    channel: str
    amount: Decimal
    unit: str


@dataclass
class ProcedureData:
    code: str
    name: str
    field_code: str
    field_name: str
    level: str
    time_limit_amount: Decimal
    time_limit_unit: str
    agency_code: str = ""
    agency_text: str = ""
    subjects: str = ""
    accepts_in_person: bool = True
    accepts_online: bool = False
    accepts_post: bool = False
    online_level: str = "none"
    is_inter_agency: bool = False
    time_limit_text: str = ""
    supplement_clock: str = "pause"
    procedure_steps_text: str = ""
    requirements: str = ""
    result: str = ""
    legal_basis: str = ""
    source: str = ""
    effective_from: datetime | None = None
    fees: list[FeeData] = field(default_factory=list)
    documents: list[DocumentData] = field(default_factory=list)
    steps: list[StepData] = field(default_factory=list)
    time_limits: list[TimeLimitData] = field(default_factory=list)
