"""Answer keys: a YAML file naming a net and asking questions about it (docs/homework.md).

    title: Spatial dimensions
    spec: {input: 32x32x3, layers: [conv: {name: conv1, filters: 10, kernel: 5, pad: 2}]}
    questions:
      - {id: q1, ask: output_shape, layer: conv1, points: 1}
      - {id: q2, ask: params, layer: conv1, points: 2, partial: {biases-left-out: 0.5}}

``spec`` is a path (relative to the key), a bundled net's name, or an inline spec; a question
may name its own. Every mistake in a key is reported with its file:line:column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archcalc.diagnostics import Diagnostics, Pos, SpecError, UsageError
from archcalc.homework.answers import AnswerError, Tolerance, parse_matrix, parse_tolerance
from archcalc.homework.mistakes import BY_ID
from archcalc.homework.net import ASKS, TOTALS, FigureError, Net
from archcalc.spec.yamlpos import YList, YMap, load_yaml

MAX_KEY_BYTES = 4 * 1024 * 1024
QUESTION_KEYS = {
    "id",
    "ask",
    "layer",
    "points",
    "tolerance",
    "partial",
    "channels_first",
    "text",
    "spec",
    "input",
    "constraints",
    "student",
}
CONSTRAINTS = {"input", "output", "max_params", "max_macs", "min_rf", "no_fit_warnings", "only"}


@dataclass
class Question:
    id: str
    ask: str
    pos: Pos
    net: Net | None  # None for a design question: the student brings the net
    layer: str | None = None
    points: float = 1.0
    tolerance: Tolerance = field(default_factory=Tolerance)
    partial: dict[str, float] = field(default_factory=dict)  # mistake id → share of the points
    channels_first: bool = False
    text: str = ""
    input: list[list[float]] | None = None  # for 'value'
    constraints: dict[str, Any] = field(default_factory=dict)  # for 'design'
    constraint_pos: dict[str, Pos] = field(default_factory=dict)
    student: str = ""  # a per-student variant (archcalc quiz --students): asked of them only

    @property
    def prompt(self) -> str:
        if self.text:
            return self.text
        where = f" of {self.layer}" if self.layer else (" in total" if self.ask in TOTALS else "")
        return f"{self.ask.replace('_', ' ')}{where}"


@dataclass
class Key:
    file: str
    text: str
    title: str
    questions: list[Question]
    visibility: str = "visible"  # Gradescope's visibility of each test

    def questions_for(self, student: str) -> list[Question]:
        """The questions asked of a student: the common ones and their own variants."""
        return [q for q in self.questions if q.student in ("", student)]

    @property
    def ids(self) -> list[str]:
        """Every question id, in key order, once (variants share their ids)."""
        return list(dict.fromkeys(q.id for q in self.questions))

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions_for(""))


def load_key(path: str) -> Key:
    """Read and check a key; raises SpecError (positioned diagnostics) when it is not usable."""
    from archcalc.spec import read_text

    text = read_text(Path(path), path)
    diags = Diagnostics()
    try:
        data = load_yaml(text, path)
    except SpecError as err:
        err.sources = {path: text}  # type: ignore[attr-defined]
        raise
    key = _Reader(path, text, diags).key(data)
    if key is None or diags.has_errors:
        failed = SpecError(list(diags))
        failed.sources = {path: text}  # type: ignore[attr-defined]
        raise failed
    return key


class _Reader:
    def __init__(self, file: str, text: str, diags: Diagnostics) -> None:
        self.file, self.text, self.diags = file, text, diags
        self.nets: dict[int, Net] = {}

    def key(self, data: Any) -> Key | None:
        top = Pos(self.file, 1, 1)
        if not isinstance(data, YMap):
            self.diags.error("key", "a key is a mapping with 'spec' and 'questions'", top)
            return None
        for k in data:
            if k not in ("title", "spec", "questions", "visibility"):
                self.diags.error(
                    "key",
                    f"unknown key entry '{k}'",
                    data.key_pos.get(k, top),
                    "a key has title, spec, questions and visibility",
                )
        net = self.net(data["spec"], data.where("spec")) if "spec" in data else None
        items = data.get("questions")
        if not isinstance(items, YList) or not items:
            self.diags.error("key", "'questions' must be a non-empty list", data.where("questions"))
            return None
        questions, seen = [], set()
        for i, item in enumerate(items):
            q = self.question(item, items.where(i), net)
            if q is None:
                continue
            if (q.student, q.id) in seen:
                self.diags.error("key", f"question id '{q.id}' is used twice", q.pos)
            seen.add((q.student, q.id))
            questions.append(q)
        visibility = str(data.get("visibility", "visible"))
        if visibility not in ("visible", "hidden", "after_due_date", "after_published"):
            self.diags.error(
                "key",
                f"visibility '{visibility}' is not one of Gradescope's",
                data.where("visibility"),
                "use visible, hidden, after_due_date or after_published",
            )
        return Key(self.file, self.text, str(data.get("title", "")), questions, visibility)

    def net(self, value: Any, pos: Pos) -> Net | None:
        if id(value) in self.nets:
            return self.nets[id(value)]
        found = load_net(value, pos, self.file, self.diags)
        if found is not None:
            self.nets[id(value)] = found
        return found

    def question(self, item: Any, pos: Pos, net: Net | None) -> Question | None:
        if not isinstance(item, YMap):
            self.diags.error("key", "a question is a mapping with 'id' and 'ask'", pos)
            return None
        for k in item:
            if k not in QUESTION_KEYS:
                from archcalc.diagnostics import did_you_mean

                self.diags.error(
                    "key",
                    f"a question has no entry '{k}'",
                    item.key_pos.get(k, pos),
                    did_you_mean(str(k), QUESTION_KEYS)
                    or f"use {', '.join(sorted(QUESTION_KEYS))}",
                )
        if "id" not in item or "ask" not in item:
            self.diags.error("key", "a question needs an 'id' and an 'ask'", item.pos)
            return None
        ask = str(item["ask"])
        if ask not in ASKS:
            from archcalc.diagnostics import did_you_mean

            self.diags.error(
                "key",
                f"unknown ask '{ask}'",
                item.where("ask"),
                did_you_mean(ask, set(ASKS)) or f"ask one of {', '.join(ASKS)}",
            )
            return None
        q = Question(str(item["id"]), ask, item.pos, None, text=str(item.get("text", "")))
        q.student = str(item.get("student", ""))
        if "spec" in item:
            net = self.net(item["spec"], item.where("spec"))
        if ask != "design":
            if net is None:
                if "spec" not in item and not self.diags.has_errors:
                    self.diags.error(
                        "key",
                        f"question '{q.id}' has no spec to ask about",
                        item.pos,
                        "give the key (or the question) a 'spec:'",
                    )
                return None
            q.net = net
        self._options(q, item)
        if q.net is not None:
            try:  # the key is checked now: every figure it asks for exists
                expected_value(q)
            except (FigureError, UsageError) as err:
                self.diags.error("key", f"question '{q.id}': {err}", item.where("layer"))
        return q

    def _options(self, q: Question, item: YMap) -> None:
        layer = item.get("layer")
        q.layer = None if layer in (None, "total", "output") and q.ask in TOTALS else layer
        if layer in (None, "output") and q.ask not in TOTALS:
            q.layer = None  # the last layer
        if q.layer is not None:
            q.layer = str(q.layer)
        points = item.get("points", 1)
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            self.diags.error("key", "points must be a number ≥ 0", item.where("points"))
        else:
            q.points = float(points)
        try:
            if "tolerance" in item:
                q.tolerance = parse_tolerance(item["tolerance"])
            if "input" in item:
                q.input = parse_matrix(item["input"])
        except AnswerError as err:
            self.diags.error(
                "key",
                str(err),
                item.where("tolerance" if "tolerance" in item and "input" not in item else "input"),
            )
        if q.ask == "value" and q.input is None:
            self.diags.error("key", "a 'value' question needs the 'input' numbers", item.pos)
        q.channels_first = bool(item.get("channels_first", False))
        partial = item.get("partial")
        if partial is None:
            pass
        elif not isinstance(partial, YMap):
            self.diags.error(
                "key",
                "partial maps mistake ids to a share of the points",
                item.where("partial"),
                "for example partial: {biases-left-out: 0.5}",
            )
        else:
            for mistake, share in partial.items():
                if mistake not in BY_ID and mistake != "per_axis":
                    from archcalc.diagnostics import did_you_mean

                    self.diags.error(
                        "key",
                        f"no catalogued mistake '{mistake}'",
                        partial.key_pos[mistake],
                        did_you_mean(str(mistake), set(BY_ID))
                        or f"the catalogue: {', '.join(BY_ID)}",
                    )
                elif (
                    isinstance(share, bool)
                    or not isinstance(share, (int, float))
                    or not 0 <= share <= 1
                ):
                    self.diags.error(
                        "key", "a partial share is between 0 and 1", partial.where(mistake)
                    )
                else:
                    q.partial[str(mistake)] = float(share)
        if q.ask == "design":
            self._constraints(q, item)

    def _constraints(self, q: Question, item: YMap) -> None:
        given = item.get("constraints")
        if not isinstance(given, YMap) or not given:
            self.diags.error(
                "key",
                "a design question needs 'constraints'",
                item.pos,
                f"constraints: {', '.join(sorted(CONSTRAINTS))}",
            )
            return
        for name, value in given.items():
            if name not in CONSTRAINTS:
                self.diags.error(
                    "key",
                    f"unknown constraint '{name}'",
                    given.key_pos[name],
                    f"use {', '.join(sorted(CONSTRAINTS))}",
                )
                continue
            problem = _constraint_problem(str(name), value)
            if problem:
                self.diags.error("key", f"constraint {name}: {problem}", given.where(name))
                continue
            q.constraints[str(name)] = value
            q.constraint_pos[str(name)] = given.where(name)


def _constraint_problem(name: str, value: Any) -> str:
    """What is wrong with a design constraint's value, or ''."""
    from archcalc.shapes import parse_shape

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if name in ("input", "output"):
        try:
            parse_shape(value)
        except UsageError:
            return "expected a shape such as 32x32x3 (or 10 for classes)"
    elif name in ("max_params", "max_macs") and not count(value):
        return "expected a whole number ≥ 0"
    elif name == "min_rf" and not (
        count(value) or (isinstance(value, dict) and count(value.get("size")))
    ):
        return "expected a size, or {layer: NAME, size: N}"
    elif name == "no_fit_warnings" and not isinstance(value, bool):
        return "expected true or false"
    elif name == "only":
        if not (isinstance(value, list) and value):
            return "expected a list of layer types, such as [conv, relu, maxpool, dense]"
        from archcalc.diagnostics import did_you_mean
        from archcalc.ops import ALIASES

        for word in value:
            if str(word).lower() not in ALIASES:
                return f"'{word}' is not a layer type; " + (
                    did_you_mean(str(word), set(ALIASES)) or "see docs/spec-format.md"
                )
    return ""


def describe_constraints(constraints: dict[str, Any]) -> str:
    words = {
        "input": "input {}",
        "output": "output {}",
        "max_params": "at most {:,} params",
        "max_macs": "at most {:,} MACs",
        "no_fit_warnings": "every filter fits",
        "only": "only {}",
    }
    parts = []
    for name, value in constraints.items():
        if name == "min_rf":
            size, layer = (
                (value["size"], value.get("layer")) if isinstance(value, dict) else (value, None)
            )
            parts.append(f"receptive field ≥ {size}" + (f" at {layer}" if layer else ""))
        elif name == "only":
            parts.append("only " + ", ".join(map(str, value)))
        elif name != "no_fit_warnings" or value:
            parts.append(words[name].format(value))
    return "; ".join(parts)


def load_net(value: Any, pos: Pos, base_file: str, diags: Diagnostics) -> Net | None:
    """A spec given in a key or a submission: an inline mapping, a path relative to the file
    that names it, or a bundled name. Problems are added to ``diags`` at ``pos``."""
    from archcalc.spec import load
    from archcalc.spec.builder import build_graph

    try:
        if isinstance(value, YMap):
            found = Diagnostics()  # this spec's own problems, whatever came before
            graph = build_graph(value, base_file, found)
            diags.extend(found)
            if graph is None or found.has_errors:
                return None
            return Net.of(graph, Diagnostics())
        if not isinstance(value, str):
            diags.error("key", "a spec is a path, a bundled name or an inline mapping", pos)
            return None
        near = Path(base_file).parent / value
        loaded = load(str(near) if near.is_file() else value)
        return Net.of(loaded.graph, loaded.diagnostics)
    except SpecError as err:
        for d in err.diagnostics:
            diags.append(
                d if d.pos else type(d)(d.severity, d.code, d.message, pos, d.layer, d.hint)
            )
        return None


def expected_value(q: Question) -> Any:
    """The right answer, from the analysis (or, for 'value', the NumPy backend)."""
    assert q.net is not None
    if q.ask == "value":
        return run_layer(q.net, q.layer, q.input or [])
    return q.net.figure(q.ask, q.layer)


def run_layer(net: Net, layer: str | None, matrix: list[list[float]]) -> list[list[float]]:
    """A layer's output on given numbers (one single-channel image), by the NumPy backend."""
    import numpy as np

    from archcalc.backend import executor as ex

    name = net.row(layer).name
    graph = net.graph
    x = np.asarray(matrix, dtype=np.float64)
    if (
        len(graph.input_shape) != 3
        or graph.input_shape[-1] != 1
        or x.shape != graph.input_shape[:2]
    ):
        raise FigureError(
            f"the input numbers are {x.shape[0]}x{x.shape[1]} but the net takes "
            f"{'x'.join(map(str, graph.input_shape))}; a 'value' question runs one "
            "single-channel image"
        )
    params = ex.init_params(graph, net.layers, 0, np.float64, {}, random_missing=False)
    run = ex.execute(graph, net.layers, params, x[None, :, :, None], keep={name})
    y = run.kept.get(name, run.output)[0]
    if y.ndim == 3 and y.shape[-1] == 1:
        y = y[..., 0]
    return np.atleast_2d(y).tolist()
