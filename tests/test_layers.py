"""The autograder's imports run one way: each module imports only from layers below its own (or from its own
package), at the top of the module, and never another module's private names. Read from the source's ast,
without importing anything."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "autograder"
# Lowest first. A module may import from a lower layer and from its own unit (the same subpackage, or itself);
# never from a higher layer or from another unit of its own layer.
LAYERS = [
    ["text"], ["course"], ["cells"], ["mistakes"], ["options"], ["results"], ["ingest"],
    ["release", "gradescope_package"], ["outputs"], ["judge"], ["isolation"], ["submission"], ["executors"],
    ["batch", "gradescope", "formgrader", "formgrader_guard"], ["testing"], ["cli"], ["__main__"],
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
# The only imports of the grader's own modules inside a function, each for a reason (they too must run downward):
# the judge brings torch and sympy, which a grading process imports in a thread while its kernels run.
LOCAL = {("autograder.submission.pipeline", "autograder.judge.verdicts")}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """'autograder.judge.checks.problem6' -> 'judge'; the package itself is '' (the public API facade)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path, package: Path = PACKAGE):
    """(imported autograder module, names taken from it, line, at top level?) for each import of ``path``."""
    module = module_name(path, package)
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    top |= {id(child) for node in tree.body if isinstance(node, ast.If) for child in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            target = absolute(node, module, path.name == "__init__.py")
            names = [a.name for a in node.names]
            # `from . import sandbox` imports a module: report it as that module
            submodules = [n for n in names if (package.parent / target.replace(".", "/") / n).with_suffix(".py")
                          .is_file() or (package.parent / target.replace(".", "/") / n).is_dir()]
            for name in submodules:
                yield f"{target}.{name}", [], node.lineno, id(node) in top
            if len(submodules) < len(names):
                yield target, [n for n in names if n not in submodules], node.lineno, id(node) in top


def problems(package: Path = PACKAGE, rank=RANK, local=LOCAL) -> list[str]:
    found, graph = [], {}
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        here = unit(module)
        for target, names, line, at_top in imports(path, package):
            if not target.startswith(package.name):
                continue
            where = f"{path.relative_to(package.parent)}:{line}"
            graph.setdefault(module, set()).add(target)
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != module:
                found.append(f"{where}: imports private {', '.join(private)} from {target}")
            if not at_top and (module, target) not in local:
                found.append(f"{where}: imports {target} inside a function (hides the order of layers)")
            there = unit(target)
            if here == "" or there == here:
                continue  # the public facade may name anything; a unit may use its own modules
            if here not in rank or there not in rank:
                found.append(f"{where}: {module} or {target} has no layer")
            elif rank[there] >= rank[here]:
                found.append(f"{where}: {module} (layer {rank[here]}) imports {target} (layer {rank[there]})")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules that import each other."""
    found, done = [], set()
    for start in sorted(graph):
        stack, path, seen = [(start, iter(sorted(graph.get(start, ()))))], [start], {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                continue
            if child == start and start not in done:
                found.append([*path, start])
                done.update(path)
                break
            if child not in seen and child in graph:
                seen.add(child)
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return found


def test_imports_run_one_way():
    found = problems()
    assert not found, "\n".join(found)


def test_every_unit_has_a_layer():
    units = {unit(module_name(p)) for p in PACKAGE.rglob("*.py")} - {""}
    assert units <= set(RANK), sorted(units - set(RANK))


def test_the_checker_finds_what_it_forbids(tmp_path):
    """A package with each forbidden shape: an upward import, a local import, a private name, a cycle."""
    package = tmp_path / "autograder"
    (package / "low").mkdir(parents=True)
    for path, text in {
        "__init__.py": "", "low/__init__.py": "", "high.py": "from .low import core\ndef _hidden(): pass\n",
        "low/core.py": "from ..high import _hidden\ndef f():\n    from .. import high\n",
    }.items():
        (package / path).write_text(text)
    found = problems(package, {"low": 0, "high": 1})
    assert any("imports private _hidden" in f for f in found), found
    assert any("inside a function" in f for f in found), found
    assert any("(layer 0) imports autograder.high (layer 1)" in f for f in found), found
    assert any(f.startswith("import cycle: ") for f in found), found


def test_a_local_import_is_allowed_only_where_listed_and_only_downward(tmp_path):
    package = tmp_path / "autograder"
    package.mkdir()
    for path, text in {"__init__.py": "", "low.py": "", "high.py": "def f():\n    from . import low\n",
                       "other.py": "def f():\n    from . import low\n",
                       "upward.py": "def f():\n    from . import high\n"}.items():
        (package / path).write_text(text)
    rank = {"low": 0, "high": 1, "other": 1, "upward": 0}
    local = {("autograder.high", "autograder.low"), ("autograder.upward", "autograder.high")}
    found = problems(package, rank, local)
    assert found == ["autograder/other.py:2: imports autograder.low inside a function (hides the order of layers)",
                     "autograder/upward.py:2: autograder.upward (layer 0) imports autograder.high (layer 1)"], found
    for module, target in LOCAL:  # each exception names an import that exists
        path = PACKAGE.parent / f"{module.replace('.', '/')}.py"
        assert any(t == target and not top for t, _, _, top in imports(path)), (module, target)
