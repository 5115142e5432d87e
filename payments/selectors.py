"""Reads of online payments: what a dossier owes, and where its payment stands."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef

from payments.models import Payment, PaymentState
from procedures.models import FeeLine, ProcedureVersion

__all__ = ["Fees", "dossier_payment", "paid_online", "payable_fees", "vnd"]


@dataclass
class Fees:
    """The fees of a procedure version as paid online: the fixed lines (name, amount), their
    total, and the names of lines without a fixed amount (those are paid at the desk)."""

    lines: list[dict] = field(default_factory=list)
    total: int = 0
    variable: list[str] = field(default_factory=list)

    @property
    def payable_online(self) -> bool:
        return self.total > 0 and not self.variable


def payable_fees(version: ProcedureVersion) -> Fees:
    """Reads the prefetched ``fees`` when there are (no query per row of a list)."""
    fees = Fees()
    lines: list[FeeLine] = list(version.fees.all())
    for line in lines:
        if line.amount_vnd is None:
            fees.variable.append(line.name)
        elif line.amount_vnd > 0:
            fees.lines.append({"name": line.name, "amount_vnd": int(line.amount_vnd)})
            fees.total += int(line.amount_vnd)
    return fees


def dossier_payment(*, dossier) -> Payment | None:
    """The dossier's payment that matters: the paid one, else the pending one, else the latest
    attempt (failed or cancelled)."""
    payments = list(Payment.objects.filter(dossier=dossier).order_by("-created_at", "-id"))
    for state in (PaymentState.PAID, PaymentState.PENDING):
        for payment in payments:
            if payment.state == state:
                return payment
    return payments[0] if payments else None


def vnd(amount: int | None) -> str:
    """150000 → "150.000" (Vietnamese thousands separator)."""
    return "" if amount is None else f"{amount:,}".replace(",", ".")



def paid_online() -> Exists:
    """Annotate or filter dossiers by whether their fee was paid online (Decision 766's
    "online payment share"): ``Dossier.objects.annotate(paid_online=paid_online())``. One
    sub-query, whatever the number of rows."""
    return Exists(Payment.objects.filter(dossier=OuterRef("pk"), state=PaymentState.PAID))
