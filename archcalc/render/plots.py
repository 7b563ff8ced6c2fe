"""Cost plots with matplotlib (the optional 'plot' extra, imported only here and lazily).

- against input size: parameters, MACs, activation memory and receptive field of one net, each
  point one run of the analysis with the input overridden;
- across nets: parameters against MACs, one point per net, the cost frontier joined (the nets
  no other net beats on both).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archcalc.diagnostics import UsageError

if TYPE_CHECKING:
    from archcalc.report import Report

FORMATS = ("svg", "png", "pdf")
MAX_POINTS = 64


@dataclass
class Point:
    size: int
    params: int
    macs: int
    activation_bytes: int
    rf: int | None  # the largest finite receptive field of any layer, in input pixels


def largest_rf(report: Report) -> int | None:
    """The widest receptive field a layer has before the net sees its whole input (global
    pooling, flattening): the number a 'how much context' plot is about."""
    sizes = [
        int(max(row.receptive_field.size))
        for row in report.layers
        if row.receptive_field is not None and not row.receptive_field.whole
    ]
    return max(sizes) if sizes else None


def point(size: int, report: Report) -> Point:
    t = report.totals
    return Point(size, t.params, t.macs, t.activation_bytes, largest_rf(report))


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
        matplotlib.rcParams["svg.hashsalt"] = "archcalc"  # the same plot, the same SVG bytes
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise UsageError(
            "plots need matplotlib, which is not installed",
            "pip install 'archcalc[plot]' (or pip install matplotlib)",
        ) from err
    return plt


def _save(fig: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    # a fixed date keeps SVG/PDF output reproducible
    meta = {"Date": None} if fmt in ("svg", "pdf") else {}
    fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight", metadata=meta)
    return buf.getvalue()


def versus_input(
    name: str, points: list[Point], fmt: str, batch: int, dtype: str, designed: int | None = None
) -> bytes:
    """The four panels; ``designed``: the spec's own input size, marked on each."""
    plt = _pyplot()
    from matplotlib.ticker import EngFormatter

    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5), sharex=True)
    xs = [p.size for p in points]
    panels = [
        (axes[0][0], [p.params for p in points], "parameters", EngFormatter()),
        (axes[0][1], [p.macs for p in points], f"MACs (batch {batch})", EngFormatter()),
        (
            axes[1][0],
            [p.activation_bytes for p in points],
            f"activation memory ({dtype}, all layers)",
            EngFormatter(unit="B"),
        ),
        (
            axes[1][1],
            [p.rf if p.rf is not None else float("nan") for p in points],
            "largest receptive field (pixels)",
            None,
        ),
    ]
    for ax, ys, title, fmt_y in panels:
        ax.plot(xs, ys, marker="o", markersize=3, color="#08519c")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        if fmt_y is not None:
            ax.yaxis.set_major_formatter(fmt_y)
    if designed is not None:
        for ax, *_ in panels:
            ax.axvline(designed, color="#d94801", linestyle=":", linewidth=1)
        axes[0][0].annotate(
            f" spec's input {designed}",
            (designed, 0.02),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            color="#d94801",
        )
    # the receptive field against the input itself: where it outgrows the image
    axes[1][1].plot(xs, xs, linestyle="--", color="#999999", label="input size")
    axes[1][1].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("input size (pixels per side)")
    fig.suptitle(f"{name}: cost against input size", fontsize=12)
    data = _save(fig, fmt)
    plt.close(fig)
    return data


def frontier(points: list[tuple[str, int, int]]) -> list[str]:
    """Names of the nets no other net beats on both parameters and MACs, by parameters."""
    best: list[tuple[str, int, int]] = []
    for name, params, macs in sorted(points, key=lambda p: (p[1], p[2])):
        if not best or macs < best[-1][2]:
            best.append((name, params, macs))
    return [b[0] for b in best]


def compare(reports: list[Report], fmt: str) -> bytes:
    plt = _pyplot()
    from matplotlib.ticker import EngFormatter

    fig, ax = plt.subplots(figsize=(9, 6.5))
    pts = [(r.name or "net", r.totals.params, r.totals.macs) for r in reports]
    on = frontier(pts)
    mem = [r.totals.activation_bytes for r in reports]
    biggest = max(mem) or 1
    for (name, params, macs), m in zip(pts, mem, strict=True):
        colour = "#d94801" if name in on else "#08519c"
        ax.scatter(params, macs, s=30 + 400 * m / biggest, color=colour, alpha=0.6)
        ax.annotate(name, (params, macs), fontsize=8, xytext=(4, 4), textcoords="offset points")
    line = [p for p in sorted(pts, key=lambda p: p[1]) if p[0] in on]
    if len(line) > 1:
        ax.step(
            [p[1] for p in line],
            [p[2] for p in line],
            where="post",
            color="#d94801",
            linestyle="--",
            linewidth=1,
            label="cost frontier (no net has fewer params and fewer MACs)",
        )
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.yaxis.set_major_formatter(EngFormatter())
    ax.set_xlabel("parameters")
    ax.set_ylabel("MACs per input")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("parameters against MACs (marker area: activation memory)", fontsize=11)
    data = _save(fig, fmt)
    plt.close(fig)
    return data
