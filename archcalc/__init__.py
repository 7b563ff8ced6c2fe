"""archcalc: a calculator for convolutional network architectures.

The library API (archcalc/api.py) is loaded on first use, so ``import archcalc`` stays as
light as the CLI's start-up needs::

    import archcalc
    result = archcalc.analyze("alexnet")       # a spec path, bundled name, YAML text or model
    print(result.totals.params, result.to_json())
"""

__version__ = "0.1.0"

# not typing.TYPE_CHECKING: importing typing would triple the cost of `import archcalc`;
# type checkers treat a constant of this name alike
TYPE_CHECKING = False

if TYPE_CHECKING:
    from archcalc.api import Result, analyze
    from archcalc.diagnostics import SpecError, UsageError

__all__ = ["Result", "SpecError", "UsageError", "analyze"]

_LAZY = {
    "analyze": "archcalc.api",
    "Result": "archcalc.api",
    "SpecError": "archcalc.diagnostics",
    "UsageError": "archcalc.diagnostics",
}


def __getattr__(name: str) -> object:
    # PEP 562: the API's modules are imported when first named, not by `import archcalc`
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archcalc' has no attribute {name!r}")
