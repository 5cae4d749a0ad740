"""The request and answer that cross into a grading process are typed: a file with other fields is refused."""

import json

import pytest

from autograder.results import CellResult
from autograder.submission.request import GradedCells, GradingRequest, RequestError


def _request(**changes) -> GradingRequest:
    fields = dict(course="/c", scratch="/s", runtime="/tmp/ps3-rt-x", student="s1",
                  notebooks={"problem7": "/n/problem7.ipynb"}, seed=7,
                  device="cpu", threads=1, cell_timeout=60, deadline=1767225600.5, sandbox=True, namespaces=True,
                  hide=["/out"])
    return GradingRequest(**{**fields, **changes})


def test_a_request_round_trips_through_its_json_file(tmp_path):
    request = _request()
    assert GradingRequest.read(request.write(tmp_path / "request.json")) == request


@pytest.mark.parametrize("change", [lambda d: d.pop("deadline"), lambda d: d.update(contain=True)])
def test_a_request_with_missing_or_unknown_fields_is_refused(tmp_path, change):
    data = json.loads(_request().write(tmp_path / "request.json").read_text())
    change(data)
    (tmp_path / "request.json").write_text(json.dumps(data))
    with pytest.raises(RequestError, match="expected the fields"):
        GradingRequest.read(tmp_path / "request.json")


def test_the_answer_brings_back_typed_cells(tmp_path):
    answer = GradedCells([CellResult("problem7", "p7_gradient_tests", 1.0, 1.0, "", 1.0)], ["a note"], [], "namespaces",
                         {"autograded/problem7.ipynb": "{}"})
    again = GradedCells.read(answer.write(tmp_path / "cells.json"))
    assert again == answer and isinstance(again.cells[0], CellResult)
