"""The tree is the architecture: `gateway` never imports `control`; `control` imports only the
contract package of the gateway. Checked on the ASTs of every module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_scan_sees_the_packages():
    assert len(imported_modules("control")) >= 20
    assert any("gateway.contract.keys" in n for n in imported_modules("control").values())


def test_gateway_never_imports_control_or_turnout():
    offenders = {
        module: sorted(n for n in names if n.split(".")[0] in ("control", "turnout"))
        for module, names in imported_modules("gateway").items()
    }
    assert {m: n for m, n in offenders.items() if n} == {}


def test_control_imports_only_the_gateway_contract():
    def forbidden(name: str) -> bool:
        top = name.split(".")[0]
        if top == "turnout" or top == "simulator":
            return True
        if top != "gateway":
            return False
        return not (name == "gateway.contract" or name.startswith("gateway.contract."))

    offenders = {
        module: sorted(n for n in names if forbidden(n))
        for module, names in imported_modules("control").items()
    }
    assert {m: n for m, n in offenders.items() if n} == {}


def test_the_benchmark_never_imports_the_control_plane():
    """It writes its routes through the `turnout` command, as an operator would."""
    offenders = {
        module: sorted(n for n in names if n.split(".")[0] == "control")
        for module, names in imported_modules("loadtest").items()
        if not module.startswith("loadtest/rehearsal/")
    }
    assert len(offenders) >= 8
    assert {m: n for m, n in offenders.items() if n} == {}


def test_rehearsals_use_only_the_controllers_pure_rules():
    """A rehearsal drives routes through the admin API like the benchmark; it may reuse the
    controller's pure parts (guard shapes, the split test) so that its report judges the split
    exactly as the controller does, and nothing that reads or writes Redis."""
    allowed = ("control.rollout.model.", "control.rollout.srm.", "control.rollout.statistics.")
    offenders = {
        module: sorted(
            n for n in names if n.split(".")[0] == "control" and not n.startswith(allowed)
        )
        for module, names in imported_modules("loadtest").items()
        if module.startswith("loadtest/rehearsal/")
    }
    assert len(offenders) >= 10
    assert {m: n for m, n in offenders.items() if n} == {}


def test_no_writer_without_audit_in_the_product():
    assert not (ROOT / "control" / "publish.py").exists()
    for module, names in imported_modules("control").items():
        assert not any(name.startswith("control.publish") for name in names), module
