"""The one error type a user sees: a refusal that names the file and the place."""

from __future__ import annotations


class ScenarioError(Exception):
    """An invalid scenario, refused before anything runs.

    Attributes:
        file: The scenario file as the user named it (or a built-in id).
        place: Where in the file: a key path such as ``model.layers[0].activation``,
            a node line such as ``graph.nodes[2]``, or ``line 3, column 7``. May be empty
            when the problem is the file as a whole (for example, it does not exist).
        message: What was found and what was expected.
    """

    def __init__(self, file: str, place: str, message: str) -> None:
        self.file = file
        self.place = place
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: {self.place}" if self.place else self.file
        return f"{where}: {self.message}"


class PlaceError(Exception):
    """An error found below the file level; the loader adds the file name.

    Raised by code that does not know which file it is reading (the expression parser,
    the graph builder) and turned into a :class:`ScenarioError` by the loader.
    """

    def __init__(self, place: str, message: str) -> None:
        self.place = place
        self.message = message
        super().__init__(f"{place}: {message}")
