"""`archcalc zoo`: list the bundled specs with their figures, or print one of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click
from click.core import ParameterSource

from archcalc.cli.common import complete_spec, guarded
from archcalc.cli.output import Output, OutputSettings, output_options
from archcalc.diagnostics import UsageError


@dataclass
class Entry:
    """One bundled spec as the listing shows it; ``error`` is set when it does not analyse."""

    name: str
    title: str = ""
    input: str = ""
    params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None
    source: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "input": self.input,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "source": self.source,
        }
        if self.error:
            data["error"] = self.error
        return data


def entries() -> list[Entry]:
    """Analyse every bundled spec (at its own input size, batch 1)."""
    from archcalc.analysis import analyze
    from archcalc.diagnostics import SpecError
    from archcalc.shapes import format_shape
    from archcalc.spec import load
    from archcalc.zoo import bundled_names

    found = []
    for name in bundled_names():
        try:
            loaded = load(name)
        except SpecError as err:
            first = next((d.message for d in err.diagnostics if d.severity == "error"), "")
            found.append(Entry(name, error=first or "cannot be read"))
            continue
        graph = loaded.graph
        report = analyze(
            graph, batch=1, dtype="float32", strict=None, diagnostics=loaded.diagnostics
        )
        entry = Entry(name, graph.name, format_shape(graph.input_shape), source=graph.source)
        if report.has_errors:
            entry.error = next(d.message for d in report.diagnostics if d.severity == "error")
        else:
            entry.params = report.totals.params
            entry.trainable_params = report.totals.trainable_params
            entry.macs = report.totals.macs
        found.append(entry)
    return found


def listing(rows: list[Entry]) -> Output:
    """One row per spec: name, input, params, MACs, source."""
    from archcalc.render.numbers import grouped, human
    from archcalc.render.output import Column

    def number(value: int | str) -> str:
        return value if isinstance(value, str) else grouped(value)

    def compact(value: int | str) -> str:
        return value if isinstance(value, str) else human(value).replace(" ", "")

    columns = [
        Column("name", "name"),
        Column("input", "input", drop=2),
        Column("params", "params", right=True, text=number, compact=compact),
        Column("macs", "MACs", right=True, text=number, compact=compact),
        Column("source", "source", shorten="right", least=12, drop=1),
    ]
    data = [e.to_json() for e in rows]
    for entry, row in zip(rows, data):
        if entry.error:  # the table shows what is wrong where the source would be
            row.update(params="error", source=entry.error)
    return Output("", columns, data, json=[e.to_json() for e in rows])


def suggest(name: str, names: list[str]) -> str:
    """A did-you-mean hint: the names that extend NAME (resnet → resnet18, ...), else close ones."""
    from archcalc.diagnostics import did_you_mean

    stem = name.lower().removesuffix(".yaml")
    longer = [n for n in names if n.startswith(stem) and stem]
    if longer:
        return "did you mean " + " or ".join(f"'{n}'" for n in longer[:6]) + "?"
    return did_you_mean(stem, names) or "run 'archcalc zoo' to list the bundled specs"


@click.command()
@click.argument("name", required=False, shell_complete=complete_spec)
@output_options
@guarded
def zoo(name: str | None, out: OutputSettings) -> None:
    """List the bundled specs, or print the YAML of one.

    Without NAME: one line per bundled spec with its input shape, parameters and MACs (computed
    now, by analysing the spec) and its source. With NAME: the spec's YAML, ready to copy and
    edit. Any bundled NAME also works wherever a SPEC is asked for, e.g. `archcalc summarize
    resnet18`.

    \b
    Examples:
      archcalc zoo
      archcalc zoo --format json
      archcalc zoo googlenet > my_googlenet.yaml
    """
    from archcalc.zoo import bundled_names, bundled_path

    if name is None:
        out.emit(listing(entries()))
        return
    source = click.get_current_context().get_parameter_source
    if source("fmt") != ParameterSource.DEFAULT or source("wide") != ParameterSource.DEFAULT:
        fmt = out.fmt
        raise UsageError(
            "--format and --wide apply to the list of specs, not to one spec",
            f"run 'archcalc zoo --format {fmt}' for the list, or 'archcalc summarize {name} "
            f"--format {fmt}' for this spec's figures",
        )
    path = bundled_path(name)
    if path is None:
        raise UsageError(f"no bundled spec named '{name}'", suggest(name, bundled_names()))
    click.echo(path.read_text(encoding="utf-8"), nl=False)
