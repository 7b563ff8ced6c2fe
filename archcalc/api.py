"""The library API: one call from a spec (or a live model) to a result a program or a notebook
can use, the same analysis every CLI command is a thin layer over.

    >>> import archcalc
    >>> r = archcalc.analyze("alexnet")
    >>> r.totals.params
    62378344

Errors are exceptions, never ``SystemExit``: :class:`~archcalc.diagnostics.SpecError` (the
spec or model cannot become a graph; its ``diagnostics`` carry file:line:column) and
:class:`~archcalc.diagnostics.UsageError` (a bad argument). Heavy modules (numpy, rich,
graphviz, torch) are imported only by the methods that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from archcalc.diagnostics import Diagnostic

if TYPE_CHECKING:
    from archcalc.analysis import Analysis
    from archcalc.analysis.rf import Field
    from archcalc.backend.verify import Verification
    from archcalc.graph import Graph
    from archcalc.report import LayerRow, Report, Totals
    from archcalc.shapes import Shape

__all__ = ["Analysed", "Diagram", "Result", "analyze", "load_analysis"]


class Analysed(NamedTuple):
    report: Report
    sources: dict[str, str]  # file → text, to show source lines under diagnostics
    result: Analysis  # the graph, shapes and fields, for commands that run, probe or draw it
    spec_input_shape: Shape  # the source's own input shape, before any input override

    @property
    def graph(self) -> Graph:
        return self.result.graph


def _is_spec_text(source: str) -> bool:
    # a path or a bundled name is one line; a spec is several
    return "\n" in source


def _framework(source: object) -> str:
    """ "torch" or "keras" for a live model object, by its class's module (so neither framework
    is imported to ask), "" for anything else."""
    for cls in type(source).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in ("torch", "keras"):
            return root
    return ""


def load_analysis(
    source: Any,
    input: str | tuple[int, ...] | None = None,
    batch: int = 1,
    dtype: str = "float32",
    strict: bool | None = None,
    count: str = "archcalc",
    explain: bool = False,
    course: bool = False,
) -> Analysed:
    """Load ``source`` (a spec path, a bundled name, '-' for stdin, YAML text, or a live
    torch.nn.Module), apply any ``input`` override and analyse it once. ``course``: the
    course's homework mode (strict, and its student traps are errors)."""
    from archcalc.analysis import analyze_graph
    from archcalc.shapes import format_shape, parse_shape

    framework = _framework(source)
    given = None
    if input is not None and framework != "torch":
        given = parse_shape(input if isinstance(input, str) else list(input))
    if isinstance(source, str):
        from archcalc.spec import load

        # a model file with dynamic sizes (ONNX, Keras) needs the input shape to import
        loaded = (
            load("<string>", source) if _is_spec_text(source) else load(source, input_shape=given)
        )
    elif framework == "torch":
        from archcalc.interop.torch_import import from_module

        graph, diagnostics, sources = from_module(source, input)
        loaded = None
    elif framework == "keras":
        import json

        from archcalc.interop.keras_import import from_config
        from archcalc.interop.model import to_yaml
        from archcalc.spec import load

        shown = f"<keras.Model {source.name}>"
        model = from_config(json.loads(source.to_json()), shown, given)
        loaded = load(shown, to_yaml(model, source.name, f"live Keras model {source.name}"))
    else:
        from archcalc.diagnostics import UsageError

        raise UsageError(
            f"cannot analyse a {type(source).__module__}.{type(source).__name__}",
            "give a spec path, a bundled name, YAML text, a torch.nn.Module or a keras.Model",
        )
    if loaded is not None:
        graph, diagnostics = loaded.graph, loaded.diagnostics
        sources = {graph.file: loaded.text}
    spec_shape = graph.input_shape
    if given is not None:
        if len(given) != len(spec_shape):
            diagnostics.warning(
                "input-rank",
                f"--input {format_shape(given)} has {len(given) - 1} spatial ax{'i' if len(given) == 2 else 'e'}s but the spec's input {format_shape(spec_shape)} has {len(spec_shape) - 1}",
                graph.input_pos,
                "write all axes: H x W x C for images (224x224x3), length x channels for signals",
            )
        graph.input_shape = given
    result = analyze_graph(
        graph,
        batch=batch,
        dtype=dtype,
        strict=True if course else strict,
        diagnostics=diagnostics,
        count=count,
        explain=explain,
    )
    if course:
        promote_traps(result.report.diagnostics)
    return Analysed(result.report, sources, result, spec_shape)


def promote_traps(diagnostics: list[Diagnostic]) -> None:
    """In course mode the student traps are errors."""
    from archcalc.analysis.traps import TRAP_CODES

    for d in diagnostics:
        if d.code in TRAP_CODES:
            d.severity = "error"
            d.message += " (course mode)"


class _Options(NamedTuple):
    batch: int
    dtype: str
    counting: str  # a convention name (not "count": tuples have a count method)
    strict: bool | None


def analyze(
    source: Any,
    *,
    input: str | tuple[int, ...] | None = None,
    batch: int = 1,
    dtype: str = "float32",
    count: str = "archcalc",
    strict: bool | None = None,
) -> Result:
    """Analyse a spec path, a bundled spec's name, YAML text or a live ``torch.nn.Module``.

    ``input`` overrides the spec's input shape ("224x224x3", H x W x C); for a torch module it
    is required and may also be torch's own ``(N, C, H, W)`` tuple. ``batch`` scales MACs,
    FLOPs and activation memory, ``dtype`` sets bytes per element, ``count`` adds a counting
    convention's figure (archcalc, fvcore, ptflops, thop, torchinfo), ``strict`` makes every
    window that does not fit exactly an error (default: the spec's own setting).

    Raises SpecError (with positioned diagnostics) or UsageError; problems that do not stop
    the analysis are in ``Result.diagnostics``."""
    analysed = load_analysis(source, input, batch, dtype, strict, count)
    return Result(analysed, _Options(batch, dtype, count, strict))


class Result:
    """One analysis: rows, totals, receptive fields and diagnostics as plain data, the CLI's
    output formats, and the backend's verify/run and the diagram on demand."""

    def __init__(self, analysed: Analysed, options: _Options) -> None:
        self._analysed = analysed
        self._options = options
        self._explained: Report | None = None

    # -- plain data ------------------------------------------------------------------------------
    @property
    def report(self) -> Report:
        return self._analysed.report

    @property
    def graph(self) -> Graph:
        return self._analysed.graph

    @property
    def name(self) -> str:
        return self.report.name

    @property
    def input_shape(self) -> Shape:
        return self.report.input_shape

    @property
    def rows(self) -> list[LayerRow]:
        """One row per layer, in order: shapes, params, MACs, FLOPs, memory, fit, field."""
        return self.report.layers

    @property
    def totals(self) -> Totals:
        return self.report.totals

    @property
    def receptive_fields(self) -> dict[str, Field | None]:
        """Each layer's receptive field (None where it is unknown or undefined)."""
        return {row.name: row.receptive_field for row in self.rows}

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.report.diagnostics

    @property
    def has_errors(self) -> bool:
        return self.report.has_errors

    def __getitem__(self, layer: str) -> LayerRow:
        for row in self.rows:
            if row.name == layer:
                return row
        raise KeyError(layer)

    # -- formats ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The JSON document of ``archcalc summarize --format json`` (docs: DESIGN.md)."""
        from archcalc.render.formats import to_json

        return to_json(self.report)

    def to_csv(self) -> str:
        from archcalc.render.formats import to_csv

        return to_csv(self.report)

    def to_markdown(self) -> str:
        from archcalc.render.formats import to_markdown

        return to_markdown(self.report)

    def explain(self, layer: str | None = None) -> str:
        """The worked arithmetic behind a layer's figures (every layer's with no name)."""
        from archcalc.analysis import analyze_graph
        from archcalc.render.explain import explain_text

        if self._explained is None:
            o = self._options
            self._explained = analyze_graph(
                self.graph, o.batch, o.dtype, o.strict, count=o.counting, explain=True
            ).report
        report = self._explained
        if layer is not None:
            import copy

            report = copy.copy(report)
            report.layers = [row for row in report.layers if row.name == layer]
            if not report.layers:
                raise KeyError(f"no layer named '{layer}' in {self.name}")
        return explain_text(report)

    # -- the backend and the diagram ---------------------------------------------------------------
    def verify(
        self, seed: int = 0, rf_samples: int = 4, max_memory: int | None = None
    ) -> Verification:
        """Run the net on a random batch with the NumPy backend and compare every layer's
        shape, parameters, MACs and receptive field with the analysis (``.ok``)."""
        from archcalc.backend.verify import verify

        a = self._analysed
        return verify(
            a.result, a.spec_input_shape, seed, self._options.dtype, rf_samples, max_memory
        )

    def run(self, x: Any, seed: int = 0, params: dict[str, Any] | None = None) -> Any:
        """The net's output for ``x`` (N x input shape, channels last): weights from ``params``
        (keys ``layer.param``, channels last), else an imported model file's own, else the
        spec's fixed values, else seeded random ones (a live model's weights are not read)."""
        import numpy as np

        from archcalc.backend import executor as ex

        a = self._analysed.result
        x = np.asarray(x, dtype=ex.DTYPES[self._options.dtype])
        params_ = ex.init_params(
            a.graph, a.layers, seed, x.dtype, {**a.graph.weights, **(params or {})}
        )
        return ex.execute(a.graph, a.layers, params_, x).output

    def to_dot(self, depth: int | None = None, rankdir: str = "TB") -> Any:
        """The diagram as a graphviz.Digraph (``archcalc draw``'s), all levels open by default."""
        from archcalc.render import graphviz as gv

        return gv.to_dot(self.graph, self.report, depth=depth, rankdir=rankdir)

    def draw(self, path: str, depth: int | None = None, rankdir: str = "TB") -> None:
        """Write the diagram; the suffix picks the format (.svg, .png, .pdf, .dot). Like the CLI,
        never overwrites the spec it came from."""
        from archcalc.render import graphviz as gv
        from archcalc.safeio import check_output, write_output

        fmt = gv.format_for(path)
        check_output(path, [self.graph.file])
        write_output(path, gv.render_bytes(self.to_dot(depth, rankdir), fmt), [self.graph.file])

    # -- display -----------------------------------------------------------------------------------
    def __str__(self) -> str:
        from archcalc.render.output import table_lines
        from archcalc.render.table import summary_output

        out = summary_output(self.report)
        notes = [
            f"{d.severity}: {d.layer + ': ' if d.layer else ''}{d.message}"
            for d in self.diagnostics
        ]
        return "\n".join(
            [out.title, "", *table_lines(out.columns, out.rows, None), *out.after, *notes]
        )

    def __repr__(self) -> str:
        t = self.totals
        return (
            f"<archcalc.Result {self.name!r}: input {'x'.join(map(str, self.input_shape))}, "
            f"{len(self.rows)} layers, {t.params:,} params, {t.macs:,} MACs, "
            f"{len(self.diagnostics)} diagnostics>"
        )

    def _repr_html_(self) -> str:
        from html import escape as e

        from archcalc.render.table import layer_columns, layer_rows, legend, title, totals_lines

        columns = layer_columns(self.report)
        rows = layer_rows(self.report)
        right = ' style="text-align:right"'
        head = "".join(f"<th{right if c.right else ''}>{e(c.heading)}</th>" for c in columns)
        body = []
        for row in rows:
            cells = []
            for c in columns:
                style = c.style(row.get(c.key)) if c.style else None
                colour = (
                    f"color:{_ON_WHITE.get(style['fg'], style['fg'])};"
                    if style and "fg" in style
                    else ""
                )
                align = "text-align:right;" if c.right else ""
                attr = f' style="{align}{colour}"' if align or colour else ""
                cells.append(f"<td{attr}>{e(c.text(row.get(c.key)))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        marks = {r["fit"] for r in rows if r["fit"]}
        diags = "".join(
            f"<li><b>{e(d.severity)}</b> <code>{e(str(d.pos) if d.pos else d.layer)}</code> "
            f"{e(d.message)}{' — ' + e(d.hint) if d.hint else ''}</li>"
            for d in self.diagnostics
        )
        parts = [
            '<div class="archcalc">',
            f"<b>{e(title(self.report))}</b>",
            f"<details open><summary>{_count(len(rows), 'layer')}</summary>",
            "<table><thead><tr>"
            + head
            + "</tr></thead><tbody>"
            + "".join(body)
            + "</tbody></table>",
            "</details>",
            f"<p><small>{e(legend(marks))}</small></p>" if marks else "",
            f"<details><summary>{_count(len(self.diagnostics), 'diagnostic')}</summary><ul>{diags}</ul></details>"
            if self.diagnostics
            else "",
            "<pre>" + e("\n".join(totals_lines(self.report))) + "</pre>",
            "</div>",
        ]
        return "".join(parts)

    def diagram(self, depth: int | None = None, rankdir: str = "TB") -> Diagram:
        """The diagram for a notebook cell: shown as SVG where Graphviz's ``dot`` is installed.
        (Not the result's own ``_repr_svg_``: a notebook asks an object for every format it
        has, and laying out a large net on each display would cost seconds.)"""
        return Diagram(self.to_dot(depth, rankdir))


# the terminal's fit colours, readable on a notebook's white page
_ON_WHITE = {"yellow": "darkorange", "cyan": "teal"}


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


class Diagram:
    """A net's diagram: ``_repr_svg_`` for notebooks, ``source`` for the DOT text."""

    def __init__(self, dot: Any) -> None:
        self._dot = dot

    @property
    def source(self) -> str:
        return str(self._dot.source)

    def __repr__(self) -> str:
        return self.source

    def _repr_svg_(self) -> str | None:
        import shutil

        if shutil.which("dot") is None:
            return None  # the notebook falls back to the DOT text
        from archcalc.render import graphviz as gv

        return gv.render_bytes(self._dot, "svg").decode("utf-8")
