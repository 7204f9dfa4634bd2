"""Service-credit tables: what a month's availability is worth under the operator's contract.

The table is the operator's contract with DingTalk, not ours: the presets are starting points
shaped like common tiered cloud SLAs, and the setting ``sla_credit_table`` takes the contract's
own tiers as ``BELOW:CREDIT,...`` (percent; "below 99.9 % availability, 10 % credit").
"""

from __future__ import annotations

from dataclasses import dataclass

from scim_bridge.errors import ConfigError

SETTING = "sla_credit_table"


@dataclass(frozen=True)
class CreditTable:
    """Tiers (below availability %, credit % of the fee); the deepest tier that applies wins."""

    name: str
    tiers: tuple[tuple[float, float], ...]

    def credit_percent(self, availability: float | None) -> float:
        """Return the credit for a month's availability (0 when no tier applies or unknown)."""
        if availability is None:
            return 0.0
        earned = 0.0
        for below, credit in self.tiers:
            if availability < below:
                earned = max(earned, credit)
        return earned

    def describe(self) -> str:
        """Return the tiers in words, for the report."""
        if not self.tiers:
            return f"{self.name}: no service credits"
        words = ", ".join(f"below {below:g}% -> {credit:g}%" for below, credit in self.tiers)
        return f"{self.name}: {words}"


#: Shipped presets. "dingtalk-standard" is the usual tiered shape (10/25/100 % below
#: 99.9/99/95 %); check it against the contract you signed before quoting any figure.
PRESETS: dict[str, CreditTable] = {
    "dingtalk-standard": CreditTable(
        "dingtalk-standard", ((99.9, 10.0), (99.0, 25.0), (95.0, 100.0))
    ),
    "none": CreditTable("none", ()),
}


def credit_table(text: str) -> CreditTable:
    """Return a preset by name, or parse ``BELOW:CREDIT,...``; a bad table is a ConfigError."""
    text = text.strip()
    if text in PRESETS:
        return PRESETS[text]
    tiers: list[tuple[float, float]] = []
    for part in (p.strip() for p in text.split(",")):
        below, colon, credit = part.partition(":")
        try:
            tier = (float(below), float(credit))
        except ValueError:
            tier = (-1.0, -1.0)
        if not colon or not 0 < tier[0] <= 100 or not 0 <= tier[1] <= 100:
            raise ConfigError(
                f"setting {SETTING}: {part!r} is not BELOW:CREDIT in percent; use a preset "
                f"({', '.join(PRESETS)}) or e.g. 99.9:10,99:25,95:100"
            )
        tiers.append(tier)
    return CreditTable("contract", tuple(sorted(tiers, reverse=True)))
