"""Errors raised for search parameters a user can fix."""


class SearchConfigError(ValueError):
    """A search parameter is out of range; the message names the parameter and the fix."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
