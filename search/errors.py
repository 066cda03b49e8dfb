"""Errors the search raises for problems a user can fix."""


class SearchConfigError(ValueError):
    """A search parameter is out of range; the message names the parameter and the fix."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class NonFiniteScore(RuntimeError):
    """A verifier scored a candidate NaN or inf, which cannot be ranked; the message names both and the fix."""
