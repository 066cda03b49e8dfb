"""Budgets in NFEs: how many more candidates fit, and a clear error when not even one does."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SearchConfigError


@dataclass(frozen=True)
class NFEBudget:
    """An optional cap on the NFEs a search may spend; ``max_nfes == 0`` means no cap."""

    max_nfes: int = 0

    def __post_init__(self) -> None:
        if self.max_nfes < 0:
            raise SearchConfigError("max_nfes", f"is {self.max_nfes}; use 0 for no cap or a positive NFE count")

    def affordable(self, wanted: int, cost_each: int, spent: int) -> int:
        """How many of ``wanted`` items costing ``cost_each`` NFEs fit after ``spent`` NFEs."""
        if self.max_nfes == 0 or cost_each == 0:
            return wanted
        return max(0, min(wanted, (self.max_nfes - spent) // cost_each))

    def require(self, minimum_cost: int, what: str) -> None:
        """Refuse a cap below the cheapest useful search (one candidate's cost)."""
        if self.max_nfes and self.max_nfes < minimum_cost:
            raise SearchConfigError(
                "max_nfes",
                f"is {self.max_nfes}, but {what} costs {minimum_cost} NFEs at these settings; "
                f"raise max_nfes to at least {minimum_cost}, or set it to 0 for no cap",
            )
