"""The public namespace: ``__all__``, the top level and the API page agree in both directions.

The API page (``book/api.md``) documents each module with ``automodule ... :members:``,
which lists exactly the names in the module's ``__all__``. The library modules'
names must all be importable from ``softmax_nb``; the book's own helpers
(notebook set-up, figures, mpmath references, interactive widgets) are imported
from their modules, as the API page says.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
from pathlib import Path

import softmax_nb

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "book" / "api.md"
# Modules whose names stay in their module (the API page says so): the book's own machinery.
BOOK_HELPERS = {"softmax_nb.notebook", "softmax_nb.plotting", "softmax_nb.reference", "softmax_nb.interactive"}


def documented_modules() -> list[str]:
    return re.findall(r"^\.\. automodule:: (softmax_nb\.\w+)\s*$", API_PAGE.read_text(), flags=re.M)


def library_modules() -> list[str]:
    return [m for m in documented_modules() if m not in BOOK_HELPERS]


def test_every_public_module_is_on_the_api_page():
    public = {f"softmax_nb.{m.name}" for m in pkgutil.iter_modules(softmax_nb.__path__) if not m.name.startswith("_")}
    documented = set(documented_modules())
    assert public - documented == set(), "modules missing from book/api.md"
    assert documented - public == set(), "book/api.md documents modules that do not exist"
    assert len(documented_modules()) == len(documented), "a module is documented twice"


def test_each_module_declares_all_and_it_resolves():
    for name in documented_modules():
        mod = importlib.import_module(name)
        assert hasattr(mod, "__all__"), f"{name} has no __all__, so the API page would list nothing"
        assert len(set(mod.__all__)) == len(mod.__all__), f"{name}.__all__ repeats a name"
        for attr in mod.__all__:
            assert hasattr(mod, attr), f"{name}.__all__ names {attr}, which it does not define"


def test_api_page_names_are_importable_from_the_top_level():
    for name in library_modules():
        mod = importlib.import_module(name)
        for attr in mod.__all__:
            assert attr in softmax_nb.__all__, f"{name}.{attr} is on the API page but not in softmax_nb.__all__"
            assert getattr(softmax_nb, attr) is getattr(mod, attr), f"softmax_nb.{attr} is not {name}.{attr}"


def documented_objects() -> set[str]:
    """Top-level names the API page documents one by one (``autoexception:: softmax_nb.X`` and the like)."""
    return set(re.findall(r"^\.\. auto(?:exception|class|function):: softmax_nb\.(\w+)\s*$", API_PAGE.read_text(),
                          flags=re.M))


def test_top_level_names_are_on_the_api_page():
    on_page = {attr for name in library_modules() for attr in importlib.import_module(name).__all__}
    on_page |= documented_objects()
    assert set(softmax_nb.__all__) - on_page == set(), "top-level names the API page does not document"
    assert len(set(softmax_nb.__all__)) == len(softmax_nb.__all__), "softmax_nb.__all__ repeats a name"


def test_top_level_namespace_is_exactly_all():
    public = {n for n, v in vars(softmax_nb).items()
              if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"}
    assert public == set(softmax_nb.__all__)


def test_api_page_says_which_modules_stay_separate():
    text = API_PAGE.read_text()
    for name in sorted(BOOK_HELPERS):
        assert f"`{name}`" in text, f"book/api.md should say that {name} is imported from its module"


def test_package_ships_its_type_marker():
    assert (ROOT / "softmax_nb" / "py.typed").is_file()
    assert "py.typed" in (ROOT / "pyproject.toml").read_text()


# Layers of softmax_nb/DESIGN.md: a module imports only from strictly lower layers.
LAYERS = {
    "_checks": 0,
    "core": 1, "numerics": 1, "experiments": 1, "reference": 1,
    "information": 2, "losses": 2, "streaming": 2, "alternatives": 2, "scoring": 2, "stability": 2, "routing": 2,
    "attention": 3, "calibration": 3, "decoding": 3, "vocab": 3, "kvcache": 3,
    "training": 4, "charlm": 4, "speculative": 4, "plotting": 4, "interactive": 4,
    "notebook": 5, "attention_lm": 5,
}


def _sibling_imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports at run time.

    Imports inside a module ``__getattr__`` (deprecated aliases, loaded on use) and under
    ``if TYPE_CHECKING:`` (annotations only) are not dependencies.
    """
    import ast

    tree = ast.parse(path.read_text())
    exempt = [f for f in ast.walk(tree)
              if (isinstance(f, ast.FunctionDef) and f.name == "__getattr__")
              or (isinstance(f, ast.If) and isinstance(f.test, ast.Name) and f.test.id == "TYPE_CHECKING")]
    skip = {id(n) for f in exempt for n in ast.walk(f)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and id(node) not in skip:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
    return found


def test_layers():
    files = {p.stem: p for p in (ROOT / "softmax_nb").glob("*.py") if p.stem != "__init__"}
    assert set(files) == set(LAYERS), "every module has a layer in softmax_nb/DESIGN.md and in LAYERS"
    design = (ROOT / "softmax_nb" / "DESIGN.md").read_text()
    for name in LAYERS:
        assert f"`{name}`" in design, f"softmax_nb/DESIGN.md does not place {name}"
    for name, path in files.items():
        for dep in _sibling_imports(path):
            assert LAYERS[dep] < LAYERS[name], f"{name} (layer {LAYERS[name]}) imports {dep} (layer {LAYERS[dep]})"
