"""Untrusted submissions never crash the grader: any text is marked (or reported unreadable)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcalc.homework import answers as A
from archcalc.homework.grade import grade
from archcalc.homework.key import load_key

KEYS = Path(__file__).parent / "data" / "keys"
KEY = load_key(str(KEYS / "spatial.yaml"))
DESIGN = load_key(str(KEYS / "design.yaml"))
POOLING = load_key(str(KEYS / "pooling.yaml"))

# answer-like text: digits, separators, units, brackets, words
ANSWER = st.text(alphabet="0123456789x×X*,.;:-+ []()MKGkmbBparamsyesnofit'\n\t%e", max_size=40)


@given(ANSWER)
def test_every_parser_raises_only_answer_errors(text: str) -> None:
    for parse in (A.parse_number, A.parse_shape_answer, A.parse_yes_no, A.parse_matrix):
        with contextlib.suppress(A.AnswerError):
            parse(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(
            st.tuples(
                st.sampled_from(["q1", "q2", "q5", "q6", "max", "avg", "net", "student"]), ANSWER
            ),
            max_size=8,
        ).map(lambda pairs: "\n".join(f"{k}: {v}" for k, v in pairs)),
    )
)
def test_any_submission_is_graded_or_reported(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.yaml"
        path.write_text(text, encoding="utf-8")
        for key in (KEY, DESIGN, POOLING):
            graded = grade(key, str(path))
            assert 0 <= graded.score <= graded.max_score
            assert graded.error or len(graded.marks) == len(key.questions_for(graded.student))
