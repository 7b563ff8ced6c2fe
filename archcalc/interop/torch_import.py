"""A live ``torch.nn.Module`` → archcalc's graph, traced with ``torch.fx.symbolic_trace``.

Every traced call is looked up in ONE table (``_TABLE``): a module class or a function → the
registry op it is and how to read that op's attributes from it. Ops that declare a
``torch_class`` (ReLU, Dropout, LRN, ...) enter the table by inverting that declaration, their
attributes read from the module by the op's attribute names and aliases (``negative_slope``,
``p``); the rest are written out below. Node names keep the module paths (``layer1.0.conv1``);
a call inside a submodule's forward is named under it (``layer1.0.add``).

Anything the table does not know is reported by qualified name and type, all at once, as a
SpecError whose positions point at a listing of the traced calls (one line each).

Imports torch at module level: imported only when a torch object is passed in.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from archcalc.diagnostics import Diagnostics, Pos, SpecError, UsageError
from archcalc.graph import INPUT, Graph, Node, Scope
from archcalc.ops.base import REGISTRY
from archcalc.shapes import Shape, parse_shape

# A traced call → (op name, attributes as the spec would give them, how it is called)
Mapped = tuple[str, dict[str, Any], str]
Mapper = Callable[[Any, tuple[Any, ...], dict[str, Any]], Mapped]


def _list(value: Any) -> Any:
    """torch's per-axis tuples as the spec writes them: one number when the axes agree."""
    if isinstance(value, tuple):
        return value[0] if len(set(value)) == 1 else list(value)
    return value


def _conv(m: Any, *_: Any) -> Mapped:
    attrs = {
        "filters": m.out_channels,
        "kernel": _list(m.kernel_size),
        "stride": _list(m.stride),
        "padding": _list(m.padding),
        "dilation": _list(m.dilation),
        "groups": m.groups,
        "bias": m.bias is not None,
    }
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return "conv_transpose", {**attrs, "output_padding": _list(m.output_padding)}, "module"
    return "conv", attrs, "module"


def _linear(m: Any, *_: Any) -> Mapped:
    return "dense", {"units": m.out_features, "bias": m.bias is not None}, "module"


def _maxpool(m: Any, *_: Any) -> Mapped:
    return (
        "maxpool",
        {
            "kernel": _list(m.kernel_size),
            "stride": _list(m.stride),
            "padding": _list(m.padding),
            "dilation": _list(m.dilation),
            "ceil_mode": m.ceil_mode,
        },
        "module",
    )


def _avgpool(m: Any, *_: Any) -> Mapped:
    return (
        "avgpool",
        {
            "kernel": _list(m.kernel_size),
            "stride": _list(m.stride),
            "padding": _list(m.padding),
            "ceil_mode": m.ceil_mode,
            "count_include_pad": m.count_include_pad,
        },
        "module",
    )


def _adaptive_avgpool(m: Any, *_: Any) -> Mapped:
    return "adaptive_avgpool", {"size": _list(m.output_size)}, "module"


def _batchnorm(m: Any, *_: Any) -> Mapped:
    momentum = 0.1 if m.momentum is None else m.momentum
    return "batchnorm", {"eps": m.eps, "momentum": momentum, "affine": m.affine}, "module"


def _flatten_dims(start: int, end: int = -1) -> Mapped:
    if start != 1 or end != -1:
        raise NotImplementedError(f"flatten(start_dim={start}, end_dim={end})")
    return "flatten", {}, "functional"


def _flatten_module(m: Any, *_: Any) -> Mapped:
    return _flatten_dims(m.start_dim, m.end_dim)[0], {}, "module"


def _flatten_call(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapped:
    return _flatten_dims(
        kwargs.get("start_dim", args[1] if len(args) > 1 else 0),
        kwargs.get("end_dim", args[2] if len(args) > 2 else -1),
    )


def _view(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapped:
    # x.view(x.size(0), -1) / x.reshape(n, -1): a flatten; any other view is not a layer
    if len(args) == 3 and args[2] == -1:
        return "flatten", {}, "functional"
    raise NotImplementedError(f"view/reshape to {args[1:]}")


def _cat(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapped:
    if kwargs.get("dim", args[1] if len(args) > 1 else 0) != 1:
        raise NotImplementedError("torch.cat along an axis other than the channels (dim=1)")
    return "concat", {}, "functional"


def _functional(op: str, call: str = "functional") -> Mapper:
    return lambda *_: (op, {}, call)


def _merge(op: str) -> Mapper:
    def read(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapped:
        if not all(isinstance(a, fx.Node) for a in args) or kwargs:
            raise NotImplementedError(f"{op} with a constant")  # x * 0.5 is not a layer here
        return op, {}, "functional"

    return read


def _hardtanh(m: Any, *_: Any) -> Mapped:
    return "clip", {"low": m.min_val, "high": m.max_val}, "module"


def _clamp(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapped:
    bounds = [*args[1:3], None, None]
    low, high = kwargs.get("min", bounds[0]), kwargs.get("max", bounds[1])
    return "clip", {"low": low, "high": high}, "functional"


def _declared(op_name: str) -> Mapper:
    """An op's ``torch_class`` declaration inverted: its attributes read from the module by
    their names or aliases (nn.LeakyReLU's ``negative_slope`` is leaky_relu's ``slope``)."""
    op = REGISTRY[op_name]

    def read(m: Any, *_: Any) -> Mapped:
        attrs = {}
        for attr, spec in op.attrs.items():
            for key in (attr, *spec.aliases):
                if hasattr(m, key):
                    attrs[attr] = _list(getattr(m, key))
                    break
        return op_name, attrs, "module"

    return read


_TABLE: dict[Any, Mapper] = {
    **{
        getattr(nn, op.torch_class): _declared(name)
        for name, op in REGISTRY.items()
        if op.torch_class
    },
    **{
        cls: _conv
        for cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    },
    nn.Linear: _linear,
    **{cls: _maxpool for cls in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)},
    **{cls: _avgpool for cls in (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)},
    **{cls: _adaptive_avgpool for cls in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)},
    **{cls: _batchnorm for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)},
    nn.Flatten: _flatten_module,
    torch.flatten: _flatten_call,
    "flatten": _flatten_call,
    "view": _view,
    "reshape": _view,
    torch.cat: _cat,
    **{f: _merge("add") for f in (operator.add, operator.iadd, torch.add, "add", "add_")},
    **{f: _merge("mul") for f in (operator.mul, operator.imul, torch.mul, "mul", "mul_")},
    nn.Hardsigmoid: _functional("hardsigmoid", "module"),  # torch's alpha, beta: the defaults
    F.hardsigmoid: _functional("hardsigmoid"),
    F.hardswish: _functional("hardswish"),
    nn.Hardtanh: _hardtanh,
    **{f: _clamp for f in (torch.clamp, torch.clip, "clamp", "clip")},
    **{f: _functional("relu") for f in (F.relu, torch.relu, "relu", "relu_")},
    F.relu6: _functional("relu6"),
    **{f: _functional("sigmoid") for f in (torch.sigmoid, F.sigmoid, "sigmoid")},
    **{f: _functional("tanh") for f in (torch.tanh, F.tanh, "tanh")},
    F.gelu: _functional("gelu"),
    F.silu: _functional("silu"),
}
# calls that compute no tensor of the net (x.size(0) feeding a view)
_SIZES = {"size", getattr}


def torch_input(given: Any) -> Shape:
    """The input shape, channels last, from torch's (N, C, ...) tuple or archcalc's '224x224x3'."""
    if given is None:
        raise UsageError(
            "a torch module needs an input size to be traced at",
            "pass input=(1, 3, 224, 224) as torchinfo's input_size, or input='224x224x3'",
        )
    if isinstance(given, str):
        return parse_shape(given)
    dims = list(given)
    if len(dims) < 2:
        raise UsageError(f"input {tuple(dims)} is not (N, C, ...)", "e.g. input=(1, 3, 224, 224)")
    return parse_shape([*dims[2:], dims[1]])


def from_module(module: Any, given: Any) -> tuple[Graph, Diagnostics, dict[str, str]]:
    """The module's graph, the Diagnostics the analysis goes on with (a warning for each
    further call of a module with parameters), and the traced listing as the source text
    diagnostics point into."""
    shape = torch_input(given)
    file = f"<{type(module).__name__}>"
    try:
        traced = fx.symbolic_trace(module)
    except Exception as err:  # fx raises TraceError, TypeError, ... on data-dependent code
        failed = Diagnostics()
        failed.error(
            "trace",
            f"torch.fx cannot trace {type(module).__name__}: {type(err).__name__}: {err}",
            None,
            "archcalc reads a model by symbolic tracing: control flow on tensor values "
            "cannot be traced; wrap that part in a module of its own",
        )
        raise SpecError(list(failed)) from None
    diags = Diagnostics()
    shared = Diagnostics()  # warnings that go on to the analysis
    called: set[str] = set()
    nodes: list[Node] = []
    scopes: dict[str, Scope] = {}
    lines: list[str] = []
    names: dict[fx.Node, str] = {}
    taken: set[str] = set()
    skipped: set[fx.Node] = set()
    for fx_node in traced.graph.nodes:
        if fx_node.op == "placeholder":
            if INPUT in names.values():
                raise UsageError(
                    f"{type(module).__name__} takes several inputs; archcalc reads one"
                )
            names[fx_node] = INPUT
            continue
        if fx_node.op == "output":
            continue
        if fx_node.op in ("call_method", "call_function") and fx_node.target in _SIZES:
            skipped.add(fx_node)
            continue
        stack = list((fx_node.meta.get("nn_module_stack") or {}).keys())
        if fx_node.op == "call_module":
            name = str(fx_node.target)
            target: Any = traced.get_submodule(name)
            kind = f"{type(target).__module__}.{type(target).__qualname__}"
            key: Any = type(target)
            shown = f"{name}: {_one_line(target)}"
        else:
            name = f"{stack[-1]}.{fx_node.name}" if stack else fx_node.name
            target = None
            key = fx_node.target
            kind = fx_node.target if isinstance(fx_node.target, str) else _fn_name(fx_node.target)
            kind = f"{'.' if fx_node.op == 'call_method' else ''}{kind}()"
            shown = f"{name}: {kind}"
        # a module called twice (torchvision's self.relu) is two layers: the second gets a number
        base, n = name, 0
        while name == INPUT or name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        lines.append(shown)
        pos = Pos(file, len(lines), 1)
        names[fx_node] = name
        if fx_node.op == "call_module":
            held = sum(p.numel() for p in target.parameters())
            if str(fx_node.target) in called and held:
                shared.warning(
                    "shared-weights",
                    f"calls module '{fx_node.target}' again: the model holds its {held:,} "
                    "parameters once, but archcalc counts them at each call",
                    pos,
                    f"the parameter totals and parameter memory are {held:,} parameters more "
                    "than the model's for this call (MACs and activations are right: each "
                    "call computes); archcalc's spec language has no shared weights",
                    name,
                )
            called.add(str(fx_node.target))
        tensor_args = [a for a in fx_node.args if isinstance(a, fx.Node) and a not in skipped]
        mapper = _TABLE.get(key)
        if mapper is None:
            diags.error(
                "unmapped",
                f"'{name}' ({kind}) has no archcalc layer type",
                pos,
                "archcalc maps the torch.nn layers and functions in archcalc/interop/"
                "torch_import.py's table; docs/spec-format.md lists archcalc's layer types",
                name,
            )
            continue
        try:
            op_name, given_attrs, call = mapper(target, tuple(fx_node.args), dict(fx_node.kwargs))
        except NotImplementedError as err:
            diags.error(
                "unmapped", f"'{name}' ({kind}): {err} has no archcalc layer", pos, "", name
            )
            continue
        op = REGISTRY[op_name]
        attrs, _, issues = op.parse_attrs(given_attrs)
        for issue in issues:
            diags.error(issue.code, f"'{name}': {issue.message}", pos, issue.hint, name)
        scope = tuple(".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1))
        for s in scope:
            if s not in scopes:
                sub = traced.get_submodule(s) if _has(traced, s) else None
                scopes[s] = Scope(s, "block", type(sub).__name__ if sub is not None else s, pos)
        nodes.append(
            Node(
                name,
                op,
                attrs,
                [names[a] for a in tensor_args],
                pos,
                scope=scope,
                call=call,
            )
        )
    text = "\n".join(lines) + "\n"
    if diags.has_errors:
        unmapped = SpecError(list(diags))
        unmapped.sources = {file: text}  # type: ignore[attr-defined]
        raise unmapped
    graph = Graph(
        type(module).__name__, shape, nodes, file, scopes=scopes, input_pos=Pos(file, 1, 1)
    )
    return graph, shared, {file: text}


def _has(module: Any, path: str) -> bool:
    try:
        module.get_submodule(path)
    except AttributeError:
        return False
    return True


def _fn_name(fn: Any) -> str:
    mod = getattr(fn, "__module__", None) or ""
    return f"{mod}.{getattr(fn, '__name__', repr(fn))}".lstrip(".")


def _one_line(module: Any) -> str:
    return " ".join(repr(module).split())[:120]
