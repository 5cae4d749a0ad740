"""What crosses the boundary between a grading process and the one it supervises: one typed request in, one
typed answer out, each written as a JSON file (a dict with unknown or missing fields is refused, not guessed)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..results import CellResult


ANSWER = "cells.json"  # the grading process's answer, written next to its request


class RequestError(ValueError):
    """A request or answer file that does not hold exactly the fields of its type."""


def _fields_of(cls, path: Path) -> dict:
    data = json.loads(Path(path).read_text())
    names = {f.name for f in fields(cls)}
    if not isinstance(data, dict) or set(data) != names:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise RequestError(f"{path}: expected the fields {sorted(names)} of {cls.__name__}, got {got}")
    return data


@dataclass(frozen=True)
class GradingRequest:
    """Grade one student's notebooks in a copy of a generated course."""

    course: str  # the generated course directory (course.generated_course) to copy
    scratch: str  # where the copy goes (must not exist yet)
    runtime: str  # the kernels' runtime folder (containment.new_runtime), made and removed by the supervisor
    student: str  # the nbgrader student id
    notebooks: dict[str, str]  # assignment notebook name -> the submitted file
    seed: int  # the hand-in seed: what the hidden tests draw their test points from
    device: str  # cpu | cuda: where the networks train (resolved, never "auto")
    threads: int  # training threads of each kernel
    cell_timeout: int  # seconds per cell
    deadline: float  # seconds since the epoch by which every notebook of the submission must be done
    sandbox: bool  # contain the kernels where the sandbox is available
    namespaces: bool  # with namespaces where the machine allows them (False: as a user id of their own only)
    hide: list[str] = field(default_factory=list)  # more folders the kernels must not see (output, submissions)
    requested: float = 0.0  # seconds since the epoch when the supervisor started the grading process
    long_cells: dict[str, int] = field(default_factory=dict)  # grade id -> seconds, for cells with limits of their own

    def write(self, path: Path) -> Path:
        Path(path).write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> "GradingRequest":
        return cls(**_fields_of(cls, path))


@dataclass(frozen=True)
class GradedCells:
    """The supervised process's answer: each cell's outcome and what to report."""

    cells: list[CellResult]
    notes: list[str]
    review: list[str]
    containment: str  # how the kernels ran: isolation.containment's NAMESPACES, USER_ID or NONE
    notebooks: dict[str, str]  # the copies a TA opens in formgrader (formgrader_copies.py)
    stages: list[list] = field(default_factory=list)  # [name, start, end] (stages.py)

    def write(self, path: Path) -> Path:
        Path(path).write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> "GradedCells":
        data = _fields_of(cls, path)
        return cls(**{**data, "cells": [CellResult(**cell) for cell in data["cells"]]})
