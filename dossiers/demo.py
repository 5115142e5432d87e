"""Demo dossiers for ``seed_demo``: a few hundred dossiers of the last six weeks, in every state.

Every write goes through the dossier services (``dossier_receive_at_desk``,
``dossier_submit_online``, ``dossier_transition``, ``dossier_assign``), run under a moved clock
(``time_machine.travel(..., tick=False)``), so codes, appointments, step deadlines, pauses and
the event log are exactly what the desk would have produced on those days. Nothing writes a
dossier model directly.

How it works:

1. **Plan** (reads only). Each dossier gets a *scenario* (returned early / on time / late,
   denied, sent back, supplemented, waiting at the desk, in progress, awaiting approval,
   supplement requested, overdue, due within a working day, refused, withdrawn, stopped…) by
   fixed quotas, so even a small ``count`` covers every state; then a procedure (weighted towards
   birth registration, residence, household business, land and judicial records), a channel,
   an agency (a commune for commune-level procedures) and an applicant. Its *script* places its
   actions on the working-hour axis measured back from now, as fractions of its own time limit
   (``motcua.calendar``: actions fall in office hours; online submissions at any hour).
2. **Run**. All actions of all dossiers, sorted by time, are replayed through the services with
   the clock moved to each one, inside one transaction: codes are numbered in the order of
   reception (gapless per agency and day) and the run is all or nothing.

Actors are the demo users of ``motcua.demo``: ``clerk1`` (desk), ``officer1`` (appraisal),
``leader1`` (assignment, approval, stop); they hold their role in every agency.

Deterministic: the choices come from ``random.Random(seed)``; the moments are relative to
``now`` (the time of seeding unless given). Provisional codes of online submissions are random
by design (``dossiers.codes``).

Idempotent: the applicants come from a fixed pool of :data:`POOL_SIZE` fictitious people
(:func:`applicant_pool`, independent of ``count`` and ``now``). When any dossier of one of them
exists, the demo dossiers are taken as already seeded and nothing is written
(:func:`demo_dossiers_exist`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

import time_machine
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from dossiers.models import Dossier, State, Transition
from dossiers.services import (
    dossier_appointment,
    dossier_assign,
    dossier_receive_at_desk,
    dossier_submit_online,
    dossier_transition,
)
from dossiers.services._common import history_import
from motcua import calendar
from motcua.models import Agency, Role
from motcua.text import fold
from procedures.models import Channel, Level, ProcedureVersion

__all__ = [
    "POOL_SIZE", "SEED", "applicant_pool", "demo_dossiers_exist", "plan_dossiers", "seed_dossiers",
]

SEED = "motcua-demo-dossiers-v1"
#: How far back the demo dossiers were received.
WINDOW = timedelta(days=42)
POOL_SIZE = 400
PROGRESS_EVERY = 50

CLERK, OFFICER, LEADER = "clerk1", "officer1", "leader1"

# ---------------------------------------------------------------------------------------------
# What the demo is made of
# ---------------------------------------------------------------------------------------------

#: Relative frequency of each scenario (every one appears once ``count`` >= their number).
SCENARIOS: dict[str, int] = {
    "returned_early": 15,
    "returned_on_time": 13,
    "returned_late": 6,
    "returned_denied": 3,
    "returned_after_supplement": 5,
    "returned_after_send_back": 3,
    "result_ready": 6,
    "received": 3,
    "submitted": 3,
    "in_progress": 9,
    "awaiting_approval": 4,
    "supplement_requested": 3,
    "overdue": 7,
    "due_soon": 4,
    "refused": 3,
    "withdrawn": 4,
    "stopped": 3,
}
#: Scenarios that go through to the result (the procedure's process must allow it).
_TO_RESULT = {
    "returned_early", "returned_on_time", "returned_late", "returned_denied",
    "returned_after_supplement", "returned_after_send_back", "result_ready",
}

#: Weight of each procedure (national code), default 1: what a province's desks mostly see.
PROCEDURE_WEIGHTS: dict[str, int] = {
    "1.001193": 16,  # đăng ký khai sinh
    "2.000986": 4,   # liên thông khai sinh, thường trú, BHYT
    "1.000894": 4,   # đăng ký kết hôn
    "1.000656": 3,   # đăng ký khai tử
    "1.004873": 4,   # xác nhận tình trạng hôn nhân
    "2.000635": 3,   # bản sao trích lục hộ tịch
    "2.000815": 4,   # chứng thực bản sao
    "2.000884": 3,   # chứng thực chữ ký
    "1.004222": 10,  # đăng ký thường trú
    "1.004194": 8,   # đăng ký tạm trú
    "1.001612": 8,   # đăng ký thành lập hộ kinh doanh
    "2.000720": 4,   # thay đổi nội dung đăng ký hộ kinh doanh
    "1.001570": 2,   # tạm ngừng kinh doanh hộ kinh doanh
    "3.000333": 10,  # phiếu lý lịch tư pháp
    "1.012753": 4,   # đất đai: đăng ký, cấp GCN (tỉnh)
    "1.013978": 3,   # đất đai: cấp GCN lần đầu (xã, liên thông)
    "1.012783": 4,   # cấp đổi GCN
    "1.012784": 3,   # tách thửa, hợp thửa
    "1.012787": 2,
    "1.013992": 3,   # chuyển mục đích sử dụng đất
    "1.013225": 2,   # giấy phép xây dựng
    "2.001610": 2,   # doanh nghiệp tư nhân
}
CHANNEL_WEIGHTS = {Channel.IN_PERSON: 78, Channel.ONLINE: 12, Channel.POST: 10}

# Communes of the demo organisation (motcua.demo): where commune-level dossiers go.
COMMUNE_WEIGHTS = {
    "000.20.01.H01": 35,  # phường Long Xuyên
    "000.20.02.H01": 25,  # phường Châu Đốc
    "000.20.03.H01": 15,  # xã Mỹ Hòa Hưng
    "000.20.04.H01": 25,  # đặc khu Phú Quốc
}

# Where applicants live: (commune, share, demo agency or None, streets or None for hamlets,
# ID province codes of birth registration). Communes after 1 July 2025 (two-tier government).
_HOMES = [
    ("phường Long Xuyên", 24, "000.20.01.H01",
     ["Trần Hưng Đạo", "Hai Bà Trưng", "Nguyễn Trãi", "Lý Thái Tổ", "Hà Hoàng Hổ",
      "Tôn Đức Thắng", "Ung Văn Khiêm", "Trần Quang Khải", "Nguyễn Huệ", "Phạm Cự Lượng"],
     "089"),
    ("phường Châu Đốc", 17, "000.20.02.H01",
     ["Thủ Khoa Nghĩa", "Nguyễn Văn Thoại", "Tôn Đức Thắng", "Phan Văn Vàng", "Chi Lăng",
      "Lê Lợi", "Trưng Nữ Vương", "Bảo Hộ Thoại"], "089"),
    ("xã Mỹ Hòa Hưng", 10, "000.20.03.H01", None, "089"),
    ("đặc khu Phú Quốc", 17, "000.20.04.H01",
     ["Trần Hưng Đạo", "Nguyễn Trung Trực", "30 Tháng 4", "Hùng Vương", "Trần Phú",
      "Bạch Đằng", "Nguyễn Văn Cừ"], "091"),
    ("phường Rạch Giá", 10, None,
     ["Nguyễn Trung Trực", "Lâm Quang Ky", "Trần Phú", "Lạc Hồng", "Mạc Cửu"], "091"),
    ("phường Hà Tiên", 4, None, ["Mạc Thiên Tích", "Tô Châu", "Chi Lăng"], "091"),
    ("phường Tân Châu", 5, None, ["Tôn Đức Thắng", "Nguyễn Tri Phương", "Lê Lợi"], "089"),
    ("xã Chợ Mới", 5, None, None, "089"),
    ("xã Tri Tôn", 4, None, None, "089"),
    ("phường Tịnh Biên", 4, None, None, "089"),
]
_HAMLETS = ["An Thạnh", "Long Hòa", "Tân Lợi", "Phú Thượng", "Mỹ An", "Hòa Bình", "Bình Phú",
            "Thạnh Lợi", "Phú Hữu", "Tân Hiệp"]
# Birth registered elsewhere (people who moved here): Đồng Tháp, Cần Thơ, TP.HCM, Vĩnh Long.
_OTHER_PROVINCES = ["087", "092", "079", "086"]

_SURNAMES = [
    ("Nguyễn", 36), ("Trần", 11), ("Lê", 9), ("Phạm", 6), ("Huỳnh", 6), ("Võ", 5), ("Phan", 4),
    ("Trương", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Ngô", 2), ("Hồ", 2), ("Dương", 2),
    ("Lý", 2), ("Lâm", 2), ("Châu", 1), ("Thái", 1), ("Quách", 1), ("Tô", 1), ("Đinh", 1),
    ("Hoàng", 1), ("Mai", 1), ("Cao", 1),
]
_MIDDLE = {
    "male": ["Văn", "Văn", "Văn", "Hữu", "Minh", "Quốc", "Thanh", "Công", "Đức", "Hoàng", "Tấn",
             "Trung", "Phước", "Thành"],
    "female": ["Thị", "Thị", "Thị", "Thị", "Ngọc", "Thanh", "Kim", "Thu", "Mỹ", "Bích",
               "Thúy", "Hồng", "Phương"],
}
_GIVEN = {
    "male": ["Hùng", "Dũng", "Tuấn", "Phúc", "Lộc", "Tài", "Nhân", "Khang", "Bảo", "Trí", "Hiếu",
             "Tâm", "Sơn", "Thành", "Hải", "Long", "Nam", "Vinh", "Phong", "Toàn", "Thịnh", "Nghĩa",
             "Khoa", "Duy", "Huy", "Tín", "Lợi", "Quang", "An", "Đạt"],
    "female": ["Lan", "Hoa", "Hương", "Mai", "Ngọc", "Trang", "Thảo", "Nhung", "Hạnh", "Yến",
               "Tuyết", "Diễm", "Như", "Vy", "Trinh", "Thư", "Hằng", "Loan", "Linh", "Nhi",
               "Phượng", "Xuân", "Duyên", "Oanh", "Hiền", "My", "Trâm", "Quyên"],
}
# Khmer names of An Giang (Tri Tôn, Tịnh Biên): "Chau" (men), "Néang" (women) and a given name.
_KHMER = {
    "male": ["Chau Sóc Kha", "Chau Ty", "Chau Sa Rết", "Chau Kim Sênh", "Chau Phươl"],
    "female": ["Néang Sa Ry", "Néang Sô Phi", "Néang Chanh Thi", "Néang Kim Thol", "Néang Mây"],
}
# Mobile prefixes in use (Viettel, MobiFone, VinaPhone, Vietnamobile).
_MOBILE_PREFIXES = [
    "086", "096", "097", "098", "032", "033", "034", "035", "036", "037", "038", "039",
    "089", "090", "093", "070", "076", "077", "078", "079",
    "088", "091", "094", "081", "082", "083", "084", "085", "092", "056", "058",
]

_REFUSAL_REASONS = [
    "Ảnh chụp giấy tờ không rõ nét, không đọc được nội dung.",
    "Thông tin trên tờ khai không khớp với Cơ sở dữ liệu quốc gia về dân cư.",
    "Hồ sơ không thuộc thẩm quyền giải quyết của cơ quan tiếp nhận.",
    "Hồ sơ nộp trùng với hồ sơ đã được tiếp nhận trước đó.",
]
_SUPPLEMENT_REASONS = [
    "Bản sao chưa được chứng thực hoặc không xuất trình bản chính để đối chiếu.",
    "Tờ khai còn thiếu chữ ký của người yêu cầu.",
    "Thông tin trên giấy tờ không thống nhất, cần bổ sung giấy tờ chứng minh.",
]
_DENIAL_REASONS = [
    "Không đủ điều kiện giải quyết theo quy định của pháp luật.",
    "Kết quả xác minh cho thấy nội dung đề nghị không đúng thực tế.",
]
_SEND_BACK_COMMENTS = [
    "Đề nghị kiểm tra lại thông tin trong dự thảo kết quả cho khớp với hồ sơ.",
    "Dự thảo còn sai sót về họ tên, ngày tháng; đề nghị chỉnh sửa.",
]
_WITHDRAWAL_REASONS = [
    "Công dân có đơn đề nghị rút hồ sơ để hoàn thiện lại giấy tờ.",
    "Công dân không còn nhu cầu giải quyết thủ tục.",
]
_STOP_NO_SUPPLEMENT = (
    "Quá thời hạn bổ sung, hoàn thiện hồ sơ mà người yêu cầu không bổ sung theo Phiếu yêu cầu "
    "bổ sung (Nghị định số 118/2025/NĐ-CP)."
)
_STOP_OTHER = [
    "Cơ quan có thẩm quyền có văn bản đề nghị dừng giải quyết để xác minh, làm rõ nội dung.",
    "Người yêu cầu đã chết trong thời gian giải quyết hồ sơ; dừng giải quyết theo quy định.",
]
_STOP_LAND = "Đất đang có tranh chấp, đã có đơn đề nghị giải quyết tranh chấp đất đai."


# ---------------------------------------------------------------------------------------------
# Applicants
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    phone: str
    email: str
    address: str
    home_agency: str | None  # the demo commune where they live, if any

    def applicant(self) -> dict:
        return {"name": self.name, "id_number": self.id_number, "phone": self.phone,
                "email": self.email, "address": self.address}


def applicant_pool(seed: str = SEED) -> list[Person]:
    """:data:`POOL_SIZE` fictitious residents of An Giang: names, 12-digit personal ID numbers in
    the real layout (province of birth registration, sex and century, year of birth, six
    digits), mobile numbers, addresses. The same list whatever ``count`` and ``now``: it is also
    the marker of the demo dossiers (:func:`demo_dossiers_exist`)."""
    rng = random.Random(f"{seed}:people")
    people, ids = [], set()
    homes = [(h[0], h[2], h[3], h[4]) for h in _HOMES]
    home_weights = [h[1] for h in _HOMES]
    while len(people) < POOL_SIZE:
        commune, agency_code, streets, province = rng.choices(homes, home_weights)[0]
        sex = rng.choice(("male", "female"))
        born = rng.randint(1952, 2006)
        if commune in ("xã Tri Tôn", "phường Tịnh Biên") and rng.random() < 0.35:
            name = rng.choice(_KHMER[sex])
        else:
            surname = rng.choices([s for s, _ in _SURNAMES], [w for _, w in _SURNAMES])[0]
            name = f"{surname} {rng.choice(_MIDDLE[sex])} {rng.choice(_GIVEN[sex])}"
        if rng.random() < 0.08:
            province = rng.choice(_OTHER_PROVINCES)
        century_sex = (0 if born < 2000 else 2) + (1 if sex == "female" else 0)
        id_number = f"{province}{century_sex}{born % 100:02d}{rng.randrange(10**6):06d}"
        if id_number in ids:
            continue
        ids.add(id_number)
        phone = f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**7):07d}"
        email = ""
        if rng.random() < 0.3:
            email = f"{fold(name).replace(' ', '.')}{born % 100:02d}@example.vn"
        if streets:
            place = f"{rng.randint(1, 250)} {rng.choice(streets)}, khu phố {rng.randint(1, 9)}"
        else:
            place = f"Tổ {rng.randint(1, 15)}, ấp {rng.choice(_HAMLETS)}"
        people.append(Person(name=name, id_number=id_number, phone=phone, email=email,
                             address=f"{place}, {commune}, tỉnh An Giang",
                             home_agency=agency_code))
    return people


def demo_dossiers_exist(pool: list[Person] | None = None) -> bool:
    """Whether the demo dossiers were seeded already: a dossier of someone of the pool exists."""
    pool = pool if pool is not None else applicant_pool()
    return Dossier.objects.filter(applicant_id_number__in=[p.id_number for p in pool]).exists()


# ---------------------------------------------------------------------------------------------
# The catalogue as the planner sees it
# ---------------------------------------------------------------------------------------------


@dataclass
class _Move:
    """One hand-over along the internal process: the transition, the allotment of the step it
    finishes, the role of that step and the state it leads to."""

    transition: str
    hours: float
    finishes: str
    after: str


@dataclass
class _Procedure:
    version: ProcedureVersion
    weight: int
    path: list[_Move]   # from ``start`` to the move that makes the result ready
    complete: bool      # False: the process cannot be carried to a result by these moves

    @cached_property
    def channels(self) -> list[str]:
        v = self.version
        return [c for c, ok in ((Channel.IN_PERSON, v.accepts_in_person),
                                (Channel.ONLINE, v.accepts_online),
                                (Channel.POST, v.accepts_post)) if ok]

    def positions(self, state: str) -> list[int]:
        """Indexes of the moves after which the dossier is in ``state``."""
        return [i for i, move in enumerate(self.path) if move.after == state]

    @property
    def is_land(self) -> bool:
        return self.version.field.code == "DATDAI"


def _path(steps) -> tuple[list[_Move], bool]:
    """The moves that carry a dossier through ``steps`` (docs/dossier-lifecycle.md, "The
    internal process"), and whether they reach the result."""
    steps = list(steps)
    if len(steps) < 2 or steps[0].role != Role.CLERK or steps[-1].role != Role.CLERK:
        return [], False
    processing = steps[1:-1]
    if not processing or processing[0].role != Role.OFFICER:
        return [], False
    path = [_Move(Transition.START, float(steps[0].hours), Role.CLERK, State.IN_PROGRESS)]
    for i, step in enumerate(processing):
        following = processing[i + 1] if i + 1 < len(processing) else None
        after = (State.RESULT_READY if following is None
                 else State.AWAITING_APPROVAL if following.role == Role.LEADER
                 else State.IN_PROGRESS)
        if step.role == Role.OFFICER:
            if following is None and not any(s.role == Role.LEADER for s in processing[:i]):
                return path, False  # nobody signs: the process cannot reach its result
            transition = (Transition.SUBMIT_FOR_APPROVAL
                          if following is not None and following.role == Role.LEADER
                          else Transition.FORWARD)
        elif step.role == Role.LEADER:
            transition = Transition.APPROVE
        else:
            return path, False
        path.append(_Move(transition, float(step.hours), step.role, after))
    return path, True


def _catalogue() -> list[_Procedure]:
    versions = (
        ProcedureVersion.objects.filter(procedure__is_active=True,
                                        procedure__current_version=F("pk"))
        .select_related("procedure", "agency", "field")
        .prefetch_related("steps", "documents", "time_limits")
        .order_by("procedure__code")
    )
    out = []
    for version in versions:
        steps = sorted(version.steps.all(), key=lambda s: s.position)
        path, complete = _path(steps)
        if not path:
            continue
        weight = PROCEDURE_WEIGHTS.get(version.procedure.code[:8], 1)
        out.append(_Procedure(version=version, weight=weight, path=path, complete=complete))
    return out


# ---------------------------------------------------------------------------------------------
# Time on the working-hour axis
# ---------------------------------------------------------------------------------------------


def _dec(hours: float) -> Decimal:
    return Decimal(f"{max(hours, 0):.4f}")


def _back(now: datetime, hours: float) -> datetime:
    """The latest moment that lies ``hours`` working hours before ``now`` (an open moment)."""
    target = _dec(hours)
    if target <= 0:
        return now
    span = timedelta(days=int(hours / 8 * 1.5) + 10)
    low = now - span
    while calendar.working_hours_between(low, now) < target:
        low -= span
    lo, hi = 0, int((now - low).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if calendar.working_hours_between(now - timedelta(seconds=mid), now) >= target:
            hi = mid
        else:
            lo = mid
    return (now - timedelta(seconds=hi)).replace(microsecond=0)


def _forward(start: datetime, hours: float) -> datetime:
    return calendar.add_working_hours(start, _dec(hours)).replace(microsecond=0)


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


@dataclass
class _Story:
    index: int
    scenario: str
    variant: str
    procedure: _Procedure
    channel: str
    agency: Agency | None
    person: Person
    dossier: Dossier | None = None


@dataclass
class _Beat:
    at: datetime
    story: _Story
    seq: int
    action: str                # "desk", "online", "assign" or a transition
    actor: str | None = None   # username
    comment: str = ""
    payload: dict = field(default_factory=dict)


@dataclass
class _Script:
    """Actions at wall offsets (working hours after reception); the age of the dossier (working
    hours from reception to now); the pause that moved the appointment."""

    actions: list[tuple[float, str, str | None, str, dict]] = field(default_factory=list)
    age: float = 0.0
    closed_pause: float = 0.0

    def add(self, offset, action, actor=None, comment="", **payload):
        self.actions.append((offset, action, actor, comment, payload))


def _quotas(count: int) -> list[str]:
    """``count`` scenarios by their weights (largest remainder), at least one of each when
    ``count`` allows."""
    names = list(SCENARIOS)
    total = sum(SCENARIOS.values())
    base = {n: 0 for n in names}
    rest = count
    if count >= len(names):
        base = {n: 1 for n in names}
        rest = count - len(names)
    shares = {n: rest * SCENARIOS[n] / total for n in names}
    for n in names:
        base[n] += int(shares[n])
    left = count - sum(base.values())
    for n in sorted(names, key=lambda n: (-(shares[n] - int(shares[n])), names.index(n)))[:left]:
        base[n] += 1
    return [n for n in names for _ in range(base[n])]


class _Planner:
    def __init__(self, *, count: int, now: datetime, seed: str):
        self.count = count
        self.now = now.replace(microsecond=0)
        self.seed = seed
        self.rng = random.Random(seed)
        self.catalogue = _catalogue()
        if not self.catalogue:
            raise RuntimeError("seed_dossiers: the demo catalogue is empty (seed it first).")
        self.communes = {a.code: a for a in Agency.objects.filter(code__in=COMMUNE_WEIGHTS)}
        self.pool = applicant_pool(seed)
        self.by_home: dict[str | None, list[Person]] = defaultdict(list)
        for person in self.pool:
            self.by_home[person.home_agency].append(person)
        self.max_age = float(calendar.working_hours_between(self.now - WINDOW, self.now))

    def plan(self) -> tuple[list[_Story], list[_Beat]]:
        scenarios = _quotas(self.count)
        self.rng.shuffle(scenarios)
        stories, beats = [], []
        for index, scenario in enumerate(scenarios):
            for attempt in range(40):
                story, story_beats = self._try(index, scenario, attempt)
                if story is not None:
                    break
            else:
                raise RuntimeError(f"seed_dossiers: no procedure fits scenario {scenario!r}")
            stories.append(story)
            beats.extend(story_beats)
        beats.sort(key=lambda b: (b.at, b.story.index, b.seq))
        return stories, beats

    # -- one dossier -----------------------------------------------------------------------

    def _try(self, index: int, scenario: str, attempt: int):
        rng = random.Random(f"{self.seed}:{index}:{attempt}")
        variant = self._variant(scenario, rng)
        procedure = self._procedure(scenario, variant, rng)
        if procedure is None:
            return None, []
        channel = self._channel(scenario, variant, procedure, rng)
        agency = None
        if procedure.version.level == Level.COMMUNE and procedure.version.agency_id is None:
            codes = list(COMMUNE_WEIGHTS)
            agency = self.communes[rng.choices(codes, [COMMUNE_WEIGHTS[c] for c in codes])[0]]
        person = self._person(agency, rng)
        story = _Story(index=index, scenario=scenario, variant=variant, procedure=procedure,
                       channel=channel, agency=agency, person=person)
        beats = self._schedule(story, f"{self.seed}:{index}:{attempt}:script")
        return (story, beats) if beats else (None, [])

    def _variant(self, scenario: str, rng: random.Random) -> str:
        choices = {
            "in_progress": (["fresh", "supplied"], [3, 1]),
            "overdue": (["in_progress", "awaiting_approval", "received"], [13, 4, 2]),
            "due_soon": (["in_progress", "awaiting_approval"], [7, 3]),
            "withdrawn": (["submitted", "received", "in_progress", "supplement_requested"],
                          [1, 1, 2, 1]),
            "stopped": (["no_supplement", "in_progress"], [2, 1]),
        }.get(scenario)
        return rng.choices(*choices)[0] if choices else ""

    def _procedure(self, scenario, variant, rng) -> _Procedure | None:
        online = scenario in ("submitted", "refused") or variant == "submitted"
        candidates = []
        for p in self.catalogue:
            if online and Channel.ONLINE not in p.channels:
                continue
            if scenario in _TO_RESULT and not p.complete:
                continue
            needs_approval = scenario == "awaiting_approval" or variant == "awaiting_approval"
            if needs_approval and not p.positions(State.AWAITING_APPROVAL):
                continue
            candidates.append(p)
        if not candidates:
            return None
        return rng.choices(candidates, [p.weight for p in candidates])[0]

    def _channel(self, scenario, variant, procedure, rng) -> str:
        if scenario in ("submitted", "refused") or variant == "submitted":
            return Channel.ONLINE
        channels = procedure.channels
        return rng.choices(channels, [CHANNEL_WEIGHTS[c] for c in channels])[0]

    def _person(self, agency: Agency | None, rng) -> Person:
        if agency is not None and self.by_home[agency.code] and rng.random() < 0.85:
            return rng.choice(self.by_home[agency.code])
        return rng.choice(self.pool)

    def _schedule(self, story: _Story, rng_seed: str) -> list[_Beat]:
        """Place the story's script in time. The time limit in working hours depends on the
        moment of reception for calendar-day limits, hence the few rounds (each with the same
        draws)."""
        now = self.now
        if story.scenario == "submitted":
            rng = random.Random(rng_seed)
            submitted = (now - timedelta(hours=rng.uniform(0.2, 40))).replace(microsecond=0)
            return [_Beat(at=submitted, story=story, seq=0, action="online")]
        version, channel = story.procedure.version, story.channel
        limit = self._limit(version, channel, _back(now, min(self.max_age, 80)))
        for _round in range(4):
            script = self._script(story, limit, random.Random(rng_seed))
            if script is None or script.age > self.max_age:
                return []
            received = _back(now, script.age)
            actual = self._limit(version, channel, received)
            if actual == limit:
                break
            limit = actual
        if not self._holds(story, script, received):
            return []
        return self._beats(story, script, received, random.Random(f"{rng_seed}:lead"))

    def _limit(self, version, channel, received: datetime) -> float:
        due = dossier_appointment(procedure_version=version, channel=channel, received_at=received)
        return float(calendar.working_hours_between(received, due))

    def _holds(self, story: _Story, script: _Script, received: datetime) -> bool:
        """The scenario's promise about now, checked on the clock (not only on the working-hour
        axis, where every moment of an evening is the same as 17:00): overdue, due within a
        working day, still in time."""
        due = dossier_appointment(procedure_version=story.procedure.version,
                                  channel=story.channel, received_at=received)
        if script.closed_pause:
            due = calendar.add_working_hours(due, _dec(script.closed_pause))
        now, margin = self.now, timedelta(minutes=15)
        if story.scenario == "overdue":
            return due < now - margin
        if story.scenario == "due_soon":
            return now + margin < due <= calendar.add_working_hours(now, 8)
        if story.scenario in ("in_progress", "awaiting_approval", "received",
                              "supplement_requested"):
            return due > now + margin
        return True

    def _beats(self, story: _Story, script: _Script, received: datetime, rng) -> list[_Beat]:
        beats: list[_Beat] = []
        online = story.channel == Channel.ONLINE
        if online:
            lead = rng.uniform(0.3, 36)
            submitted = (received - timedelta(hours=lead)).replace(microsecond=0)
            beats.append(_Beat(at=submitted, story=story, seq=0, action="online"))
        previous = beats[-1].at if beats else None
        for seq, (offset, action, actor, comment, payload) in enumerate(script.actions, start=1):
            if action == "desk" and online:
                action, actor = Transition.RECEIVE, CLERK
            at = received if offset <= 0 else _forward(received, offset)
            if previous is not None and at <= previous:
                at = _forward(previous, 1 / 60)  # a working minute later
            if at > self.now:
                return []
            beats.append(_Beat(at=at, story=story, seq=seq, action=action, actor=actor,
                               comment=comment, payload=payload))
            previous = at
        return beats

    # -- scripts -----------------------------------------------------------------------------

    def _script(self, story: _Story, limit: float, rng: random.Random) -> _Script | None:
        """The story's actions as wall offsets (working hours after reception), for a time
        limit of ``limit`` working hours."""
        s = _Script()
        path = story.procedure.path
        scenario, variant = story.scenario, story.variant
        L = max(limit, 0.5)  # noqa: N806 - the limit, as in the docs
        s.add(0, "desk", CLERK)
        # Most citizens collect the result on the day it is ready or the next; some much later.
        ret = rng.uniform(0.2, 8) if rng.random() < 0.7 else rng.uniform(8, 48)

        if scenario == "refused":
            s.actions[0] = (0, Transition.REFUSE, CLERK, "",
                            {"reasons": [rng.choice(_REFUSAL_REASONS)]})
            s.age = rng.uniform(0.2, self.max_age)
            return s

        if scenario in _TO_RESULT:
            moves = list(path)
            result = {
                "returned_early": L * rng.uniform(0.3, 0.75 if L >= 16 else 0.9),
                "returned_on_time": L - min(rng.uniform(0.1, 3), 0.4 * L),
                "returned_late": L + rng.uniform(1, max(2, min(40, 0.4 * L))),
                "returned_denied": L * rng.uniform(0.5, 1.0),
                "returned_after_send_back": L * rng.uniform(0.6, 1.05),
                "returned_after_supplement": L * rng.uniform(0.5, 1.0),
                "result_ready": L * rng.uniform(0.4, 1.1),
            }[scenario]
            finals = {}
            if scenario == "returned_denied":
                finals[len(moves) - 1] = (Transition.DENY, {"reasons": [rng.choice(_DENIAL_REASONS)]})
            if scenario == "returned_after_send_back":
                moves = self._with_send_back(moves)
            pause = None
            if scenario == "returned_after_supplement":
                pause = (self._officer_move(moves, rng), rng.uniform(3, 40))
            end = self._walk(s, story, moves, 0, result, rng, finals=finals, pause=pause)
            if scenario == "result_ready":
                s.age = end + rng.uniform(0.3, 24)
            else:
                s.add(end + ret, Transition.RETURN_RESULT, CLERK)
                s.age = end + ret + rng.uniform(0.1, max(0.2, self.max_age - end - ret))
            return s

        if scenario == "received" or variant == "received":
            if scenario == "withdrawn":
                at = rng.uniform(0.2, 6)
                s.add(at, Transition.WITHDRAW, CLERK, reason=rng.choice(_WITHDRAWAL_REASONS))
                s.age = at + rng.uniform(0.1, self.max_age)
            elif scenario == "overdue":
                s.age = L + rng.uniform(1, 30)
            else:
                s.age = rng.uniform(0.1, min(6, 0.6 * L))
            return s

        if variant == "submitted":  # withdrawn before the desk checked it
            s.actions[0] = (0, Transition.WITHDRAW, CLERK, "",
                            {"reason": rng.choice(_WITHDRAWAL_REASONS)})
            s.age = rng.uniform(0.2, self.max_age)
            return s

        if scenario in ("awaiting_approval", "in_progress", "due_soon", "overdue"):
            state = (State.AWAITING_APPROVAL
                     if State.AWAITING_APPROVAL in (scenario, variant) else State.IN_PROGRESS)
            positions = story.procedure.positions(state)
            if not positions:
                return None
            stop = positions[0] if rng.random() < 0.7 else rng.choice(positions)
            moves = story.procedure.path[: stop + 1]
            if scenario == "due_soon":
                s.age = L - rng.uniform(0.5, min(7.5, L * 0.9))
            elif scenario == "overdue":
                s.age = L + rng.uniform(1, 60)
            elif state == State.AWAITING_APPROVAL:
                s.age = L * rng.uniform(0.45, 0.9)
            else:
                s.age = L * rng.uniform(0.1, 0.8)
            if scenario == "overdue":
                last = L * (rng.uniform(0.6, 0.98) if state == State.AWAITING_APPROVAL
                            else rng.uniform(0.2, 0.8))
            else:
                last = s.age * rng.uniform(0.5, 0.95)
            end = self._walk(s, story, moves, 0, last, rng, open_end=True)
            if variant == "supplied":
                requested = end + (s.age - end) * rng.uniform(0.1, 0.5)
                pause = rng.uniform(2, 30)
                self._supplement(s, story, requested, rng)
                s.add(requested + pause, Transition.SUPPLEMENT, CLERK,
                      documents=s.actions[-1][4]["missing_documents"])
                s.closed_pause = pause
                s.age += pause
            return s

        # Open or ended pauses: supplement requested, withdrawn or stopped while processing.
        positions = story.procedure.positions(State.IN_PROGRESS)
        stop = positions[0] if rng.random() < 0.75 else rng.choice(positions)
        moves = story.procedure.path[: stop + 1]
        requested = L * rng.uniform(0.15, 0.5)
        end = self._walk(s, story, moves, 0, requested * rng.uniform(0.5, 0.9), rng, open_end=True)
        requested = max(requested, end + 0.2)
        if scenario == "supplement_requested":
            self._supplement(s, story, requested, rng)
            s.age = requested + rng.uniform(0.5, max(0.6, min(40, 0.9 * (L - requested))))
            return s
        if scenario == "withdrawn" and variant == "in_progress":
            at = requested
            s.add(at, Transition.WITHDRAW, CLERK, reason=rng.choice(_WITHDRAWAL_REASONS))
        elif scenario == "withdrawn":  # supplement_requested, then the citizen gives up
            self._supplement(s, story, requested, rng)
            at = requested + rng.uniform(2, 30)
            s.add(at, Transition.WITHDRAW, CLERK, reason=rng.choice(_WITHDRAWAL_REASONS))
        elif variant == "no_supplement":
            self._supplement(s, story, requested, rng)
            at = requested + rng.uniform(24, 80)
            s.add(at, Transition.STOP, LEADER, legal_basis=_STOP_NO_SUPPLEMENT)
        else:
            at = requested
            basis = _STOP_LAND if story.procedure.is_land else rng.choice(_STOP_OTHER)
            s.add(at, Transition.STOP, LEADER, legal_basis=basis)
        s.age = at + rng.uniform(0.1, max(0.2, self.max_age - at))
        return s

    def _with_send_back(self, moves: list[_Move]) -> list[_Move]:
        """The leader of the last approval sends the draft back once: the officer's move is
        done again, then the approval."""
        j = len(moves) - 1
        w = max(i for i in range(j) if moves[i].finishes == Role.OFFICER
                or moves[i].transition == Transition.START)
        back = _Move(Transition.SEND_BACK, moves[j].hours * 0.5, Role.LEADER, State.IN_PROGRESS)
        redo = [_Move(m.transition, m.hours * 0.3, m.finishes, m.after) for m in moves[w + 1: j]]
        if moves[w].transition != Transition.START:
            redo.insert(0, _Move(moves[w].transition, moves[w].hours * 0.3, moves[w].finishes,
                                 moves[w].after))
        return [*moves[:j], back, *redo, moves[j]]

    def _officer_move(self, moves: list[_Move], rng) -> int:
        """Index of a move that finishes an officer step: the supplement is asked for during
        that step, before the move."""
        indexes = [i for i, m in enumerate(moves) if m.finishes == Role.OFFICER]
        return indexes[0] if rng.random() < 0.8 else rng.choice(indexes)

    def _walk(self, s: _Script, story: _Story, moves: list[_Move], begin: float, end: float,
              rng, *, finals=None, pause=None, open_end=False) -> float:
        """Add ``moves`` spread over [begin, end] (effective offsets) in proportion to the
        steps' allotments; ``pause`` = (move index, wall hours): a supplement asked for before
        that move and brought back after the pause. Returns the wall offset of the last move."""
        finals = finals or {}
        span = max(end - begin, 0.1 * len(moves))
        durations = [max(m.hours, 0.25) * rng.uniform(0.4, 1.6) for m in moves]
        head = 0.0
        if moves[0].transition == Transition.START:
            # The desk hands over within its allotment, whatever happens afterwards.
            head = min(max(moves[0].hours, 0.25) * rng.uniform(0.2, 1.1),
                       0.5 * span * rng.uniform(0.3, 1))
            durations[0] = 0.0
        rest = sum(durations)
        if open_end:
            # Steps done at their own pace; then the dossier sits at the current step.
            scale = rng.uniform(0.5, 1.2)
            if rest and head + rest * scale > span:
                scale = (span - head) / rest
        else:
            scale = (span - head) / rest if rest else 1.0
        durations = [d * scale for d in durations]
        durations[0] += head
        offset, shift, last = begin, 0.0, begin
        for i, (move, duration) in enumerate(zip(moves, durations, strict=True)):
            step_start = offset
            offset += duration
            if pause is not None and pause[0] == i:
                requested = step_start + (offset - step_start) * rng.uniform(0.2, 0.6)
                self._supplement(s, story, requested, rng)
                shift = pause[1]
                s.add(requested + shift, Transition.SUPPLEMENT, CLERK,
                      documents=s.actions[-1][4]["missing_documents"])
                s.closed_pause = shift
            transition, payload = finals.get(i, (move.transition, {}))
            at = offset + shift
            self._move(s, story, at, transition, payload, rng,
                       next_gap=durations[i + 1] if i + 1 < len(durations) else 0.5)
            last = at
        return last

    def _move(self, s: _Script, story: _Story, at: float, transition: str, payload: dict, rng,
              *, next_gap: float) -> None:
        version = story.procedure.version
        if transition == Transition.START:
            if rng.random() < 0.4:
                s.add(at, Transition.START, OFFICER)
                return
            s.add(at, Transition.START, CLERK, comment="Chuyển phòng chuyên môn thẩm định.")
            if rng.random() < 0.7:
                s.add(at + min(rng.uniform(0.1, 1.5), 0.5 * next_gap), "assign", LEADER)
            return
        if transition in (Transition.FORWARD, Transition.SUBMIT_FOR_APPROVAL,
                          Transition.REQUEST_SUPPLEMENT):
            if transition == Transition.SUBMIT_FOR_APPROVAL and version.result:
                payload = {"result_text": f"Dự thảo: {version.result[:500]}"}
            s.add(at, transition, OFFICER, **payload)
            return
        if transition == Transition.SEND_BACK:
            s.add(at, transition, LEADER, comment=rng.choice(_SEND_BACK_COMMENTS))
            return
        s.add(at, transition, LEADER, **payload)

    def _supplement(self, s: _Script, story: _Story, at: float, rng) -> None:
        documents = [d.name for d in story.procedure.version.documents.all()]
        missing = rng.sample(documents, k=min(len(documents), rng.choice((1, 1, 2)))) if documents \
            else ["Giấy tờ chứng minh nơi cư trú"]
        s.add(at, Transition.REQUEST_SUPPLEMENT, OFFICER,
              missing_documents=[name[:900] for name in missing],
              reasons=[rng.choice(_SUPPLEMENT_REASONS)])


# ---------------------------------------------------------------------------------------------
# Running the plan through the services
# ---------------------------------------------------------------------------------------------


def plan_dossiers(*, count: int, now: datetime, seed: str = SEED) -> list[tuple]:
    """The plan without running it (reads only): one row per action, in the order they will
    run: ``(moment, dossier number, scenario, action, actor, procedure code, agency code,
    channel, applicant ID number)``. The same arguments give the same plan."""
    _stories, beats = _Planner(count=count, now=now, seed=seed).plan()
    return [
        (b.at, b.story.index, b.story.scenario, b.action, b.actor,
         b.story.procedure.version.procedure.code, b.story.agency.code if b.story.agency else "",
         b.story.channel, b.story.person.id_number)
        for b in beats
    ]


def seed_dossiers(
    *,
    count: int = 300,
    progress: Callable[[str], None] = lambda message: None,
    now: datetime | None = None,
    seed: str = SEED,
) -> int:
    """Create ``count`` demo dossiers received over the last six weeks; returns how many were
    created (0 when the demo dossiers exist already: see :func:`demo_dossiers_exist`).

    Needs the demo organisation, users and catalogue (``motcua.demo``, ``procedures.demo``).
    All or nothing: one transaction.
    """
    if count <= 0:
        return 0
    if demo_dossiers_exist(applicant_pool(seed)):
        progress("hồ sơ mẫu đã có, không tạo thêm")
        return 0
    now = now or timezone.now()
    users = {u.username: u for u in get_user_model().objects.filter(
        username__in=(CLERK, OFFICER, LEADER))}
    missing = {CLERK, OFFICER, LEADER} - set(users)
    if missing:
        raise RuntimeError(f"seed_dossiers: demo users missing: {', '.join(sorted(missing))}")

    _stories, beats = _Planner(count=count, now=now, seed=seed).plan()
    created = 0
    returned: list[Dossier] = []
    with transaction.atomic():
        with history_import(), time_machine.travel(beats[0].at, tick=False) as traveller:
            for beat in beats:
                traveller.move_to(beat.at)
                _run(beat, users)
                if beat.action in ("desk", "online"):
                    created += 1
                    if created % PROGRESS_EVERY == 0 or created == count:
                        progress(f"đã tạo {created}/{count} hồ sơ mẫu")
                elif beat.action == Transition.RETURN_RESULT:
                    returned.append(beat.story.dossier)
        seed_ratings(returned, rng=random.Random(f"{seed}:ratings"), now=now)
    return created


def _run(beat: _Beat, users: dict) -> None:
    story = beat.story
    actor = users.get(beat.actor) if beat.actor else None
    version = story.procedure.version
    if beat.action == "desk":
        story.dossier = dossier_receive_at_desk(
            procedure_version=version, agency=story.agency, channel=story.channel,
            applicant=story.person.applicant(), actor=actor,
        )
    elif beat.action == "online":
        story.dossier = dossier_submit_online(
            procedure_version=version, agency=story.agency, applicant=story.person.applicant(),
        )
    elif beat.action == "assign":
        story.dossier = dossier_assign(dossier=story.dossier, officer=users[OFFICER], actor=actor)
    else:
        story.dossier = dossier_transition(
            dossier=story.dossier, transition=beat.action, actor=actor, comment=beat.comment,
            **beat.payload,
        )


def seed_ratings(returned: list[Dossier], *, rng: random.Random, now: datetime) -> int:
    """Rate about two thirds of the ``returned`` demo dossiers through
    ``ratings.services.rating_submit`` (code + phone, as a citizen would), each between two
    hours and two days after ``returned_at`` and never after ``now``, under ``time_machine`` like
    the rest and inside ``history_import`` (nobody is told). Mostly satisfied, less so when the
    dossier was late; some with a comment in Vietnamese; from the kiosk, the receipt's link or the
    tracking page. Its own random stream, so adding ratings does not change the dossiers; a
    dossier already rated is left as it is (idempotent). Returns the number of ratings created."""
    from ratings.models import Level, Rating, Source
    from ratings.services import rating_submit

    good = (
        "Cán bộ hướng dẫn tận tình, dễ hiểu.",
        "Trả kết quả sớm hơn ngày hẹn, rất cảm ơn.",
        "Thủ tục nhanh gọn, không phải đi lại nhiều lần.",
        "Nhân viên một cửa vui vẻ, chu đáo.",
        "Tra cứu hồ sơ trên mạng rất tiện.",
    )
    mixed = (
        "Phải chờ ở quầy khá lâu vào buổi sáng.",
        "Nên niêm yết mẫu đơn rõ hơn tại quầy.",
        "Giấy hẹn ghi giờ trả kết quả nhưng đến nơi vẫn phải chờ.",
    )
    bad = (
        "Trễ hẹn mà không được báo trước.",
        "Phải bổ sung giấy tờ nhiều lần vì hướng dẫn không rõ ngay từ đầu.",
        "Cán bộ trả lời qua loa, chưa hướng dẫn cụ thể.",
    )
    scale = [Level.VERY_SATISFIED, Level.SATISFIED, Level.DISSATISFIED]
    sources = [Source.KIOSK, Source.LINK, Source.TRACKING]
    already = set(
        Rating.objects.filter(dossier__in=[d.pk for d in returned])
        .values_list("dossier_id", flat=True)
    )
    created = 0
    for dossier in returned:
        # Every draw happens whether or not the dossier is rated already: the stream stays
        # the same from one run to the next.
        rated = rng.random() < 0.65
        weights = (25, 45, 30) if dossier.timeliness == "late" else (55, 37, 8)
        overall = rng.choices(scale, weights)[0]
        answers = {"overall": overall.value}
        for criterion in ("time", "attitude", "guidance", "publicity"):
            if rng.random() < 0.75:
                step = rng.choices((0, 1, -1), (70, 20, 10))[0]
                level = scale[min(max(scale.index(overall) + step, 0), len(scale) - 1)]
                answers[criterion] = level.value
        pool = {Level.VERY_SATISFIED: good, Level.SATISFIED: good + mixed,
                Level.DISSATISFIED: bad + mixed}[overall]
        comment = rng.choice(pool) if rng.random() < 0.4 else ""
        source = rng.choices(sources, (45, 35, 20))[0]
        delay = timedelta(hours=rng.uniform(2, 48))
        if not rated or dossier.pk in already or dossier.returned_at is None:
            continue
        moment = min(dossier.returned_at + delay, now)
        with history_import(), time_machine.travel(moment, tick=False):
            rating_submit(
                code=dossier.code, phone=dossier.applicant_phone, answers=answers,
                comment=comment, source=source, ip="seed-demo",
            )
        created += 1
    return created
