"""The sliding window step by step, as vdumoulin/conv_arithmetic draws it, for any settings.

One layer (conv, max/avg pool or transposed conv) is written as a one-layer spec and run
through the analysis, so the output size, the padding and the rows and columns that no window
covers are the analysis's own figures (Layer.fits, the stride-fit diagnostic); this module only
lays out the grid and walks the window over it. A transposed conv is drawn as the equivalent
direct convolution: the input spread out with stride − 1 zeros between its cells and padded
with kernel − 1 − pad on each side, walked at stride 1 (conv_arithmetic's convention).

Renderers: an animated SVG (CSS keyframes, no script) and Pillow frames for GIF and PNG.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archcalc.diagnostics import Diagnostic, UsageError

if TYPE_CHECKING:
    from archcalc.ops.base import AxisFit

KINDS = {
    "conv": "conv",
    "maxpool": "maxpool",
    "avgpool": "avgpool",
    "pool": "maxpool",
    "transposed": "conv_transpose",
    "conv_transpose": "conv_transpose",
}
MAX_FRAMES = 400  # window positions drawn; more would be a film, not a figure
MAX_GRID = 64  # cells along either axis of the drawn (padded) input

# cell kinds of the input grid
INPUT, PAD, UNCOVERED, ZERO = "input", "pad", "uncovered", "zero"
COLOURS = {
    INPUT: "#9ecae1",
    PAD: "#e5e5e5",
    UNCOVERED: "#fb6a4a",
    ZERO: "#ffffff",
    "window": "#08519c",
    "out": "#a1d99b",
    "out_now": "#238b45",
    "out_done": "#c7e9c0",
    "grid": "#636363",
}
CELL = 24  # pixels per cell
GAP = 2 * CELL  # between input and output grids
MARGIN = CELL


@dataclass
class Animation:
    """The drawn input grid (padding included), the output size and each window position."""

    title: str
    kind: str
    grid: list[list[str]]  # cell kinds, rows × columns
    out: tuple[int, int]
    taps: list[list[tuple[int, int]]] = field(default_factory=list)  # per frame, grid cells
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)  # window box per frame
    uncovered_rows: int = 0  # real input rows no window ever covers
    uncovered_cols: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.taps)


def _pair(value: tuple[int, ...]) -> tuple[int, int]:
    return (value[0], value[-1])


def build(
    kind: str,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> Animation:
    """Analyse the one-layer net and lay out its frames (limits checked before drawing)."""
    from archcalc.analysis import analyze_graph
    from archcalc.spec import load

    op = KINDS.get(kind)
    if op is None:
        raise UsageError(
            f"cannot animate '{kind}'", f"choose one of {', '.join(sorted(set(KINDS)))}"
        )

    def yaml(pair: tuple[int, int]) -> str:  # '3' when square, as a spec would say it
        return str(pair[0]) if pair[0] == pair[1] else f"[{pair[0]}, {pair[1]}]"

    attrs = [f"kernel: {yaml(kernel)}", f"stride: {yaml(stride)}", f"pad: {yaml(pad)}"]
    if op in ("conv", "conv_transpose"):
        attrs.insert(0, "filters: 1")
    if op == "conv":
        attrs.append(f"dilation: {yaml(dilation)}")
    elif dilation != (1, 1):
        raise UsageError(f"--dilation applies to conv only, not {kind}", "drop --dilation")
    if ceil_mode:
        if op not in ("maxpool", "avgpool"):
            raise UsageError("--ceil-mode applies to pooling only", "drop --ceil-mode")
        attrs.append("ceil_mode: true")
    if op == "conv_transpose" and any(p > k - 1 for p, k in zip(pad, kernel, strict=True)):
        raise UsageError(
            "a transposed conv with pad larger than kernel − 1 crops its output; "
            "it has no conv_arithmetic picture",
            "use a pad of at most kernel − 1",
        )
    text = f"input: {size[0]}x{size[1]}x1\nlayers:\n  - {op}: {{name: layer, {', '.join(attrs)}}}\n"
    loaded = load("<animate>", text=text)
    analysis = analyze_graph(
        loaded.graph, batch=1, dtype="float32", strict=False, diagnostics=loaded.diagnostics
    )
    report = analysis.report
    row = report.layers[0]
    problems = [d for d in report.diagnostics if d.severity == "error"]
    if row.output_shape is None or problems:
        message = problems[0].message if problems else "the layer has no output"
        raise UsageError(f"these settings do not make a layer: {message}", "check the sizes")
    out = _pair(row.output_shape[:-1])
    settings = [f"pad {yaml(pad)}"] if any(pad) else []
    if dilation != (1, 1):
        settings.append(f"dilation {yaml(dilation)}")
    described = ", ".join([f"{op} {row.describe}", *settings])
    title = f"{described} on {size[0]}×{size[1]} → {out[0]}×{out[1]}"
    if op == "conv_transpose":
        anim = _transposed(title, size, kernel, stride, pad, out)
    else:
        layer = analysis.layers["layer"]  # its geometry as the analysis resolved it
        assert layer is not None
        anim = _direct(title, op, layer.fits, dilation, out)
    anim.diagnostics = [d for d in report.diagnostics if d.code == "stride-fit"]
    return anim


def _check_size(rows: int, cols: int, frames: int) -> None:
    if rows > MAX_GRID or cols > MAX_GRID:
        raise UsageError(
            f"the padded input is {rows}×{cols} cells; animations draw at most "
            f"{MAX_GRID}×{MAX_GRID} (MAX_GRID)",
            "animate a smaller input: the window moves the same way on any size",
        )
    if frames > MAX_FRAMES:
        raise UsageError(
            f"{frames} window positions; animations draw at most {MAX_FRAMES} (MAX_FRAMES)",
            "animate a smaller input or a larger stride",
        )


def _direct(
    title: str, op: str, fits: list[AxisFit], dilation: tuple[int, int], out: tuple[int, int]
) -> Animation:
    fy, fx = fits[0], fits[-1]
    rows = fy.pad_before + fy.size + fy.pad_after
    cols = fx.pad_before + fx.size + fx.pad_after
    _check_size(rows, cols, out[0] * out[1])

    def kinds(fit: AxisFit, n: int) -> list[str]:
        # the padded axis: pad, input, pad; the input cells after the last window's end that
        # no window reaches are the stride-fit's "never seen"
        reach = (fit.out - 1) * fit.stride + fit.span  # cells from the start the windows cover
        axis = []
        for i in range(n):
            real = fit.pad_before <= i < fit.pad_before + fit.size
            axis.append((UNCOVERED if i >= reach else INPUT) if real else PAD)
        return axis

    ky, kx = kinds(fy, rows), kinds(fx, cols)
    grid = [
        [UNCOVERED if UNCOVERED in (a, b) else PAD if PAD in (a, b) else INPUT for b in kx]
        for a in ky
    ]
    anim = Animation(title, op, grid, out)
    anim.uncovered_rows = ky.count(UNCOVERED)
    anim.uncovered_cols = kx.count(UNCOVERED)
    dy, dx = dilation
    tap_y = range(0, fy.span, dy)
    tap_x = range(0, fx.span, dx)
    for i in range(out[0]):
        for j in range(out[1]):
            top, left = i * fy.stride, j * fx.stride
            # ceil_mode's last window may overhang the grid: draw the part that lies on it
            anim.taps.append(
                [
                    (top + a, left + b)
                    for a in tap_y
                    for b in tap_x
                    if top + a < rows and left + b < cols
                ]
            )
            anim.spans.append(
                (top, left, min(top + fy.span, rows) - top, min(left + fx.span, cols) - left)
            )
    return anim


def _transposed(
    title: str,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
    out: tuple[int, int],
) -> Animation:
    border = [k - 1 - p for k, p in zip(kernel, pad, strict=True)]
    spread = [(n - 1) * s + 1 for n, s in zip(size, stride, strict=True)]
    rows, cols = spread[0] + 2 * border[0], spread[1] + 2 * border[1]
    _check_size(rows, cols, out[0] * out[1])

    def kinds(axis: int, n: int) -> list[str]:
        found = []
        for i in range(n):
            k = i - border[axis]
            if not 0 <= k < spread[axis]:
                found.append(PAD)
            else:
                found.append(INPUT if k % stride[axis] == 0 else ZERO)
        return found

    ky, kx = kinds(0, rows), kinds(1, cols)
    grid = [[INPUT if a == b == INPUT else PAD if PAD in (a, b) else ZERO for b in kx] for a in ky]
    anim = Animation(title, "conv_transpose", grid, out)
    for i in range(out[0]):
        for j in range(out[1]):
            anim.taps.append([(i + a, j + b) for a in range(kernel[0]) for b in range(kernel[1])])
            anim.spans.append((i, j, kernel[0], kernel[1]))
    return anim


# -- SVG ------------------------------------------------------------------------------------------

SECONDS_PER_FRAME = 0.6


def _layout(anim: Animation) -> tuple[int, int, int, int]:
    """(width, height, x of the output grid, y of the grids) in pixels."""
    rows, cols = len(anim.grid), len(anim.grid[0])
    top = MARGIN + CELL  # room for the title
    out_x = MARGIN + cols * CELL + GAP
    width = max(out_x + anim.out[1] * CELL + MARGIN, 2 * MARGIN + 7 * len(caption(anim)))
    height = top + max(rows, anim.out[0]) * CELL + MARGIN + CELL  # and a caption line
    return width, height, out_x, top


def to_svg(anim: Animation) -> str:
    width, height, out_x, top = _layout(anim)
    n = anim.frames
    total = n * SECONDS_PER_FRAME
    share = 100 / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        "<style>",
        f"@keyframes frame {{ 0% {{ visibility: visible }} {share:.4f}% {{ visibility: hidden }}"
        " 100% { visibility: hidden } }",
        f".frame {{ visibility: hidden; animation: frame {total:.2f}s step-end infinite }}",
        "</style>",
        f'<text x="{MARGIN}" y="{MARGIN}" font-size="14">{_esc(anim.title)}</text>',
    ]

    def cell(x: int, y: int, fill: str, extra: str = "") -> str:
        return (
            f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{fill}" '
            f'stroke="{COLOURS["grid"]}" stroke-width="1"{extra}/>'
        )

    for r, line in enumerate(anim.grid):
        for c, kind in enumerate(line):
            parts.append(cell(MARGIN + c * CELL, top + r * CELL, COLOURS[kind], f' class="{kind}"'))
    for r in range(anim.out[0]):
        for c in range(anim.out[1]):
            parts.append(cell(out_x + c * CELL, top + r * CELL, COLOURS["out"], ' class="out"'))
    for k, (taps, span) in enumerate(zip(anim.taps, anim.spans, strict=True)):
        i, j = divmod(k, anim.out[1])
        sy, sx, sh, sw = span
        parts.append(f'<g class="frame" style="animation-delay: {k * SECONDS_PER_FRAME:.2f}s">')
        parts.append(
            f'<rect x="{MARGIN + sx * CELL}" y="{top + sy * CELL}" width="{sw * CELL}" '
            f'height="{sh * CELL}" fill="none" stroke="{COLOURS["window"]}" stroke-width="3"/>'
        )
        for r, c in taps:
            parts.append(
                f'<rect class="tap" x="{MARGIN + c * CELL + 5}" y="{top + r * CELL + 5}" '
                f'width="{CELL - 10}" height="{CELL - 10}" fill="{COLOURS["window"]}" '
                'fill-opacity="0.75"/>'
            )
        for done in range(k):
            di, dj = divmod(done, anim.out[1])
            parts.append(cell(out_x + dj * CELL, top + di * CELL, COLOURS["out_done"]))
        parts.append(cell(out_x + j * CELL, top + i * CELL, COLOURS["out_now"]))
        parts.append("</g>")
    parts.append(
        f'<text x="{MARGIN}" y="{height - MARGIN / 2:.0f}" font-size="11">{_esc(caption(anim))}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def caption(anim: Animation) -> str:
    """The legend line under the grids: what each colour means, and the fit finding."""
    words = ["blue: input", "grey: padding"]
    if anim.kind == "conv_transpose":
        words.append("white: inserted zeros")
    if anim.uncovered_rows or anim.uncovered_cols:
        words.append(
            f"red: never covered ({anim.uncovered_rows} row(s), {anim.uncovered_cols} column(s))"
        )
    return " · ".join(words)


def _esc(text: str) -> str:
    import html

    return html.escape(text, quote=True)


# -- raster (Pillow) ----------------------------------------------------------------------------


def raster_frames(anim: Animation) -> list[Any]:
    """One Pillow image per window position."""
    try:
        from PIL import Image, ImageDraw
    except ImportError as err:
        raise UsageError(
            "GIF and PNG animations need Pillow, which is not installed",
            "pip install 'archcalc[plot]' (or pillow), or write an .svg",
        ) from err
    width, height, out_x, top = _layout(anim)
    base = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(base)
    font = _font()
    draw.text((MARGIN, MARGIN - 12), anim.title, fill="black", font=font)
    draw.text((MARGIN, height - MARGIN), caption(anim), fill="black", font=font)

    def box(d: Any, x: int, y: int, fill: str) -> None:
        d.rectangle([x, y, x + CELL, y + CELL], fill=fill, outline=COLOURS["grid"])

    for r, line in enumerate(anim.grid):
        for c, kind in enumerate(line):
            box(draw, MARGIN + c * CELL, top + r * CELL, COLOURS[kind])
    for r in range(anim.out[0]):
        for c in range(anim.out[1]):
            box(draw, out_x + c * CELL, top + r * CELL, COLOURS["out"])
    frames = []
    for k, (taps, span) in enumerate(zip(anim.taps, anim.spans, strict=True)):
        frame = base.copy()
        d = ImageDraw.Draw(frame)
        for done in range(k):
            di, dj = divmod(done, anim.out[1])
            box(d, out_x + dj * CELL, top + di * CELL, COLOURS["out_done"])
        i, j = divmod(k, anim.out[1])
        box(d, out_x + j * CELL, top + i * CELL, COLOURS["out_now"])
        for r, c in taps:
            x, y = MARGIN + c * CELL, top + r * CELL
            d.rectangle([x + 5, y + 5, x + CELL - 5, y + CELL - 5], fill=COLOURS["window"])
        sy, sx, sh, sw = span
        d.rectangle(
            [
                MARGIN + sx * CELL,
                top + sy * CELL,
                MARGIN + (sx + sw) * CELL,
                top + (sy + sh) * CELL,
            ],
            outline=COLOURS["window"],
            width=3,
        )
        frames.append(frame)
    return frames


def _font() -> Any:
    """DejaVu Sans (it has × and →), from the system or matplotlib; Pillow's own otherwise."""
    from PIL import ImageFont

    candidates = ["DejaVuSans.ttf"]
    try:
        import matplotlib

        candidates.append(
            os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
        )
    except ImportError:
        pass
    for name in candidates:
        try:
            return ImageFont.truetype(name, 12)
        except OSError:
            continue
    return ImageFont.load_default()


def gif_bytes(anim: Animation) -> bytes:
    import io

    frames = raster_frames(anim)
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=int(SECONDS_PER_FRAME * 1000),
        loop=0,
    )
    return buf.getvalue()


def png_frames(anim: Animation) -> list[bytes]:
    import io

    out = []
    for frame in raster_frames(anim):
        buf = io.BytesIO()
        frame.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out
