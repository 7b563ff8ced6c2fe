"""Seeded practice problems and per-student variants, with their answer key.

The generator only chooses settings (input size, filters, stride, padding); every answer is
computed later by the key reader from the analysis, like any key's. Some settings deliberately
do not fit, as in the course's (7 − 3)/3 + 1 = 2.33. The same seed gives the same quiz: each
student's problems come from a generator seeded with the seed and the student's name.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("shape", "params", "macs", "fit", "pool", "rf", "value")
DEFAULT_COUNT = 6


@dataclass
class Problem:
    text: str
    spec: dict[str, Any]
    ask: str
    layer: str | None = None
    points: int = 1
    input: list[list[int]] | None = None
    partial: dict[str, float] | None = None


def _conv(rng: random.Random, fit: bool) -> tuple[int, int, int, int, int, int]:
    """(N, C, K, F, S, P) with the window fitting exactly, or deliberately not."""
    while True:
        f = rng.choice([1, 3, 3, 5, 5, 7])
        s = rng.choice([1, 1, 2, 2, 3]) if fit else rng.choice([2, 3, 4])
        p = rng.choice([0, (f - 1) // 2])
        n = rng.randrange(max(f, 5), 65)
        room = n + 2 * p - f
        if fit:
            n += -room % s  # the next size the window tiles exactly
        elif room % s == 0:
            n += 1  # one more row than fits (s ≥ 2)
        if n <= 72:
            return n, rng.choice([1, 3, 3, 16, 32, 64]), rng.choice([4, 6, 8, 10, 16, 32]), f, s, p


def _conv_spec(n: int, c: int, k: int, f: int, s: int, p: int) -> dict[str, Any]:
    return {
        "input": f"{n}x{n}x{c}",
        "layers": [{"conv": {"name": "conv", "filters": k, "kernel": f, "stride": s, "pad": p}}],
    }


def _setting(n: int, c: int, k: int, f: int, s: int, p: int) -> str:
    return (
        f"An input of {n}x{n}x{c} goes through {k} filters of {f}x{f} with stride {s} and "
        f"padding {p}."
    )


def _conv_problem(
    rng: random.Random, question: str, ask: str, points: int = 1, **partial: float
) -> list[Problem]:
    """One question about one fitting conv layer."""
    n, c, k, f, s, p = _conv(rng, fit=True)
    spec = _conv_spec(n, c, k, f, s, p)
    text = f"{_setting(n, c, k, f, s, p)} {question}"
    return [Problem(text, spec, ask, "conv", points=points, partial=partial or None)]


def shape(rng: random.Random) -> list[Problem]:
    return _conv_problem(
        rng, "What is the output volume (H x W x C)?", "output_shape", per_axis=0.5
    )


def params(rng: random.Random) -> list[Problem]:
    question = "How many parameters does the layer learn?"
    return _conv_problem(rng, question, "params", 2, **{"biases-left-out": 0.5})


def macs(rng: random.Random) -> list[Problem]:
    return _conv_problem(rng, "How many multiply-accumulates (MACs) does it take?", "macs", 2)


def fit(rng: random.Random) -> list[Problem]:
    fits = rng.random() < 0.4  # most of these deliberately don't fit
    n, c, k, f, s, p = _conv(rng, fit=fits)
    spec = _conv_spec(n, c, k, f, s, p)
    setting = _setting(n, c, k, f, s, p)
    return [
        Problem(setting + " Does the filter fit (is the output size whole)?", spec, "fits", "conv"),
        Problem(
            "For the same layer, what is (N + 2P − F)/S + 1? (two decimals if not whole)",
            spec,
            "exact_size",
            "conv",
        ),
    ]


def pool(rng: random.Random) -> list[Problem]:
    f = rng.choice([2, 2, 3])
    s = rng.choice([f, 2])
    n = rng.randrange(4, 40) * s + f - s  # always fits
    c = rng.choice([16, 32, 64, 96])
    return [
        Problem(
            f"Max pooling with {f}x{f} windows and stride {s} on {n}x{n}x{c}: output volume?",
            {
                "input": f"{n}x{n}x{c}",
                "layers": [{"maxpool": {"name": "pool", "kernel": f, "stride": s}}],
            },
            "output_shape",
            "pool",
        )
    ]


def rf(rng: random.Random) -> list[Problem]:
    f1, f2 = rng.choice([3, 5]), rng.choice([3, 5])
    s1 = rng.choice([1, 2])
    layers = [
        {"conv": {"name": "conv1", "filters": 8, "kernel": f1, "stride": s1, "pad": (f1 - 1) // 2}},
        {"conv": {"name": "conv2", "filters": 8, "kernel": f2, "pad": (f2 - 1) // 2}},
    ]
    return [
        Problem(
            f"Two convolutions: {f1}x{f1} with stride {s1}, then {f2}x{f2} with stride 1. How many "
            "input pixels wide is the receptive field of one unit of the second?",
            {"input": "32x32x1", "layers": layers},
            "rf",
            "conv2",
        )
    ]


def value(rng: random.Random) -> list[Problem]:
    matrix = [[rng.randrange(0, 10) for _ in range(4)] for _ in range(4)]
    avg = rng.random() < 0.5
    op = "avgpool" if avg else "maxpool"
    rows = "; ".join(" ".join(map(str, row)) for row in matrix)
    return [
        Problem(
            f"{'Average' if avg else 'Max'} pooling, 2x2 windows, stride 2, on the 4x4 slice "
            f"[{rows}]. Give the 2x2 result.",
            {"input": "4x4x1", "layers": [{op: {"name": "pool", "kernel": 2, "stride": 2}}]},
            "value",
            "pool",
            points=2,
            input=matrix,
        )
    ]


MAKERS: dict[str, Callable[[random.Random], list[Problem]]] = {
    "shape": shape,
    "params": params,
    "macs": macs,
    "fit": fit,
    "pool": pool,
    "rf": rf,
    "value": value,
}


def problems(seed: int, student: str, kinds: tuple[str, ...], count: int) -> list[Problem]:
    rng = random.Random(f"{seed}:{student}")  # a str seed is hashed the same way every run
    found: list[Problem] = []
    for i in range(count):
        found += MAKERS[kinds[i % len(kinds)]](rng)
    return found


def make_quiz(
    seed: int, students: list[str], kinds: tuple[str, ...], count: int
) -> tuple[str, dict[str, Any]]:
    """The students' Markdown and the key (as data for YAML)."""
    title = f"Practice quiz (seed {seed})"
    md = [
        f"# {title}",
        "",
        "Answer in a text file of `id: answer` lines, one per question, for example "
        "`q1: 32x32x10` or `q2: 760`. Shapes are H x W x C; a matrix is rows separated by `;`.",
        "",
    ]
    questions: list[dict[str, Any]] = []
    for student in students or [""]:
        if student:
            md += [f"## {student}", "", f"Start your file with `student: {student}`.", ""]
        for n, problem in enumerate(problems(seed, student, kinds, count), 1):
            qid = f"q{n}"
            md.append(f"**{qid}.** {problem.text}")
            md.append("")
            entry: dict[str, Any] = {"id": qid}
            if student:
                entry["student"] = student
            entry.update({"text": problem.text, "spec": problem.spec, "ask": problem.ask})
            if problem.layer:
                entry["layer"] = problem.layer
            if problem.points != 1:
                entry["points"] = problem.points
            if problem.input is not None:
                entry["input"] = problem.input
            if problem.partial:
                entry["partial"] = problem.partial
            questions.append(entry)
    return "\n".join(md).rstrip() + "\n", {"title": title, "questions": questions}


def key_yaml(key: dict[str, Any]) -> str:
    import yaml

    header = "# Answer key made by archcalc quiz; grade with: archcalc grade KEY SUBMISSIONS\n"
    return header + yaml.safe_dump(key, sort_keys=False, allow_unicode=True, width=100)
