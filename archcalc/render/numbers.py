"""Number formatting shared by the renderers."""

from __future__ import annotations


def grouped(n: int) -> str:
    """1234567 → '1,234,567'."""
    return f"{n:,}"


def human(n: float, unit: str = "") -> str:
    """4089184256 → '4.09 G'; binary prefixes for bytes (5120 → '5.00 KiB'), for every command."""
    if unit == "B":
        for prefix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(n) < 1024 or prefix == "TiB":
                return f"{n:.0f} {prefix}" if prefix == "B" else f"{n:.2f} {prefix}"
            n /= 1024
    for prefix in ("", "K", "M", "G", "T", "P"):
        if abs(n) < 1000 or prefix == "P":
            return f"{n:.0f}{unit}" if prefix == "" else f"{n:.2f} {prefix}{unit}"
        n /= 1000
    raise AssertionError("unreachable")
