"""Every hook is documented in docs/plugin_hooks.md with its exact signature, and has a test
of its own named ``test_hook_<name>...`` somewhere in the suite."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from platform_core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugin_hooks.md"


def _hooks() -> dict[str, str]:
    out = {}
    for name, function in vars(hookspecs).items():
        if callable(function) and hasattr(function, "fireside_spec"):
            notes = function.__annotations__
            params = ", ".join(f"{p}: {notes[p]}" for p in inspect.signature(function).parameters)
            out[name] = f"def {name}({params}) -> {notes['return']}"
    return out


def _sections() -> dict[str, str]:
    text = DOC.read_text()
    parts = re.split(r"^### `([a-z_]+)`$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_hook_has_a_section_with_its_exact_signature() -> None:
    sections = _sections()
    hooks = _hooks()
    assert len(hooks) >= 15
    for name, signature in hooks.items():
        assert name in sections, f"docs/plugin_hooks.md has no section for {name}"
        assert signature in sections[name], f"the documented signature of {name} is stale"
    assert set(sections) <= set(hooks), "docs/plugin_hooks.md documents a hook that is gone"


def test_every_hook_has_a_test() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing = [name for name in _hooks() if not re.search(rf"def test_hook_{name}(_\w+)?\(", tests)]
    assert missing == []


def test_every_hookspec_says_what_an_exception_does() -> None:
    for name in _hooks():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "exception" in doc.lower() or "raise" in doc.lower(), name
