"""Build assignment ps3, in three steps, each regenerating files that are never edited by hand:

1. sync:      copy each reference function body from solutions/problemN.py into the solution regions of
              source/ps3/problemN.pct.py (the reviewable text form of the notebooks);
2. notebooks: convert every .pct.py into the nbgrader source notebook source/ps3/problemN.ipynb
              (complete nbgrader metadata, stable cell ids, no outputs);
3. release:   ``nbgrader generate_assignment ps3`` writes the student version into release/ps3/, and the same
              files as one zip, release/ps3.zip (what an instructor hands out: reproducible bytes).

``python -m autograder release`` runs all three; ``--check`` changes nothing and fails on any drift.
"""

from __future__ import annotations

import ast
import filecmp
import importlib
import re
import shutil
import tempfile
import textwrap
from pathlib import Path

import jupytext
import nbformat

from .course import (ASSIGNMENT, RELEASE_TIME, ROOT, copy_course, course_files, generate_assignment, release_dir,
                     reproducible_zip, source_dir)

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DEF = re.compile(r"^(\s*)def (\w+)\(")


def reference_body(module_name: str, function: str) -> str:
    """The body of a reference function without its docstring, dedented, comments kept."""
    module = importlib.import_module(module_name)
    text = Path(module.__file__).read_text()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            first = node.body[0]
            has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                and isinstance(first.value.value, str)
            start = first.end_lineno if has_doc else first.lineno - 1
            lines = text.splitlines()[start:node.end_lineno]
            return textwrap.dedent("\n".join(lines)).strip("\n")
    raise LookupError(f"{module_name} has no function {function}()")


def sync_text(text: str, module_name: str) -> str:
    """Replace every code solution region inside a ``def`` with the reference body of that function."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if line.strip() == BEGIN and not line.lstrip().startswith("# "):
            indent = line[: len(line) - len(line.lstrip())]
            owner = next((m.group(2) for m in map(DEF.match, reversed(out)) if m and len(m.group(1)) < len(indent)),
                         None)
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == END)
            if owner is not None:
                out.extend(textwrap.indent(reference_body(module_name, owner), indent).splitlines())
            else:
                out.extend(lines[i + 1:end])
            i = end
            continue
        i += 1
    return "\n".join(out) + "\n"


def to_notebook(text: str, stem: str) -> nbformat.NotebookNode:
    """The nbgrader source notebook of one .pct.py text, deterministic to the byte."""
    nb = jupytext.reads(text, fmt="py:percent")
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        cell.metadata = {}
        if meta is not None:
            solution = bool(meta.get("solution", False))
            cell.metadata["nbgrader"] = {
                "grade": bool(meta.get("grade", False)), "grade_id": meta["grade_id"],
                "locked": bool(meta.get("locked", not solution)), "schema_version": 3,
                "solution": solution, "task": False,
                **({"points": meta["points"]} if "points" in meta else {}),
            }
        cell.id = meta["grade_id"] if meta else f"{stem}-{index}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def build(root: Path = ROOT, check: bool = False) -> list[str]:
    """Run sync and notebooks on ``root``'s source; return the files that changed (or would change)."""
    changed = []
    for pct in sorted(source_dir(root).glob("*.pct.py")):
        stem = pct.name.removesuffix(".pct.py")
        text = pct.read_text()
        synced = sync_text(text, f"solutions.{stem}")
        if synced != text:
            changed.append(str(pct.relative_to(root)))
            if not check:
                pct.write_text(synced)
        ipynb = pct.with_name(f"{stem}.ipynb")
        notebook = nbformat.writes(to_notebook(synced, stem)) + "\n"
        if not ipynb.is_file() or ipynb.read_text() != notebook:
            changed.append(str(ipynb.relative_to(root)))
            if not check:
                ipynb.write_text(notebook)
    return changed


def generate_release(root: Path) -> Path:
    """Run ``nbgrader generate_assignment`` in a scratch course directory; return its release folder.

    Working on a copy keeps the gradebook and nbgrader's other by-products out of ``root``.
    """
    return generate_assignment(copy_course(root, Path(tempfile.mkdtemp(prefix="ps3-release-"))))


def _differences(fresh: Path, committed: Path, prefix: str = f"release/{ASSIGNMENT}/") -> list[str]:
    """Files that differ between a fresh build and the committed release, by path."""
    if not committed.exists():
        return [f"missing: {prefix}"]
    diff = filecmp.dircmp(fresh, committed, ignore=["__pycache__"])
    found = [f"missing: {prefix}{n}" for n in diff.left_only] + [f"not generated: {prefix}{n}" for n in diff.right_only]
    found += [f"differs: {prefix}{n}" for n in filecmp.cmpfiles(fresh, committed, diff.common_files, shallow=False)[1]]
    for sub in diff.common_dirs:
        found += _differences(fresh / sub, committed / sub, f"{prefix}{sub}/")
    return found


def bundle_path(root: Path = ROOT) -> Path:
    return release_dir(root).with_suffix(".zip")


def bundle(folder: Path) -> bytes:
    """``folder`` as a zip whose files sit under ``ps3/``, with reproducible bytes (the drift check compares
    them)."""
    return reproducible_zip([(f"{ASSIGNMENT}/{path.relative_to(folder).as_posix()}", path.read_bytes(), 0o644)
                             for path in course_files(folder)], RELEASE_TIME)


def release(root: Path = ROOT, check: bool = False) -> list[str]:
    """The whole build; with ``check`` it reports drift instead of writing."""
    problems = [f"out of date: {name}" for name in build(root, check)]
    if problems and check:
        return problems  # the release would be built from stale notebooks: report that first
    fresh = generate_release(root)
    try:
        target, zipped = release_dir(root), bundle_path(root)
        data = bundle(fresh)
        if check:
            problems += _differences(fresh, target)
            if not zipped.is_file() or zipped.read_bytes() != data:
                problems.append(f"{'differs' if zipped.is_file() else 'missing'}: {zipped.relative_to(root)}")
        else:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(fresh, target)
            zipped.write_bytes(data)
    finally:
        shutil.rmtree(fresh.parent.parent, ignore_errors=True)
    return problems
