"""Every answer notation the grader reads, tolerances, and the rounding rule for shortened
numbers."""

from __future__ import annotations

import pytest

from archcalc.homework.answers import (
    AnswerError,
    Tolerance,
    number_matches,
    parse_matrix,
    parse_number,
    parse_shape_answer,
    parse_tolerance,
    parse_yes_no,
    shape_matches,
)


@pytest.mark.parametrize(
    "written",
    [
        "32x32x10",
        "32 x 32 x 10",
        "32×32×10",
        "32X32X10",
        "[32, 32, 10]",
        "(32, 32, 10)",
        "32,32,10",
        "32*32*10",
        [32, 32, 10],
    ],
)
def test_shape_notations(written: object) -> None:
    assert parse_shape_answer(written) == (32, 32, 10)


def test_channels_first_only_when_the_key_allows_it() -> None:
    given = parse_shape_answer("(10, 32, 32)")
    assert not shape_matches(given, (32, 32, 10), channels_first=False)
    assert shape_matches(given, (32, 32, 10), channels_first=True)


@pytest.mark.parametrize("written", ["32x", "thirty", "0x3x3", "", True])
def test_bad_shapes_are_answer_errors(written: object) -> None:
    with pytest.raises(AnswerError):
        parse_shape_answer(written)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        (760, 760),
        ("760", 760),
        ("760 params", 760),
        ("760 parameters", 760),
        ("62,378,344", 62_378_344),
        ("62.4M", 62_400_000),
        ("62.4 M params", 62_400_000),
        ("105.4 MMACs", 105_400_000),
        ("1.2k", 1200),
        ("4.09 GMACs", 4_090_000_000),
        ("2.33", 2.33),
        ("1.5 MB", 1_500_000),
        ("2 KiB", 2048),
        ("3,072 values", 3072),
    ],
)
def test_number_notations(written: object, value: float) -> None:
    assert parse_number(written).value == pytest.approx(value)


@pytest.mark.parametrize("written", ["lots", "760 apples", "1.2.3", True])
def test_bad_numbers(written: object) -> None:
    with pytest.raises(AnswerError):
        parse_number(written)


def test_full_numbers_must_be_exact() -> None:
    exact = Tolerance()
    assert number_matches(parse_number("760"), 760, exact)
    assert not number_matches(parse_number("761"), 760, exact)
    assert not number_matches(parse_number("62,378,000"), 62_378_344, exact)


def test_shortened_numbers_match_when_rounded_to_the_digits_written() -> None:
    exact = Tolerance()
    assert number_matches(parse_number("62.4M"), 62_378_344, exact)
    assert number_matches(parse_number("62.38M"), 62_378_344, exact)
    assert not number_matches(parse_number("62.3M"), 62_378_344, exact)
    assert number_matches(parse_number("2.33"), 7 / 3, exact)
    assert not number_matches(parse_number("2.34"), 7 / 3, exact)
    # two significant digits are too few to count as the answer: 62M, 2.3
    assert not number_matches(parse_number("62M"), 62_378_344, exact)
    assert not number_matches(parse_number("2.3"), 7 / 3, exact)
    # and a whole number is never read as a rounded one: 2 is not 2.33
    assert not number_matches(parse_number("2"), 7 / 3, exact)


def test_tolerances() -> None:
    assert parse_tolerance("1%") == Tolerance(relative=0.01)
    assert parse_tolerance(0.5) == Tolerance(absolute=0.5)
    one_percent = parse_tolerance("1%")
    assert number_matches(parse_number("62M"), 62_378_344, one_percent)
    assert not number_matches(parse_number("61M"), 62_378_344, one_percent)
    half = parse_tolerance(0.5)
    assert number_matches(parse_number("2.5"), 2.1, half)
    assert not number_matches(parse_number("2.7"), 2.1, half)
    for bad in ("-1%", "lots", True, -2):
        with pytest.raises(AnswerError):
            parse_tolerance(bad)


@pytest.mark.parametrize(
    ("written", "fits"),
    [
        ("yes", True),
        ("fits", True),
        (True, True),
        ("no", False),
        (False, False),
        ("doesn't fit", False),
        ("Doesn’t fit.", False),
        ("does not fit", False),
        ("no, 1 row is lost", False),
        ("not an integer", False),
    ],
)
def test_yes_no(written: object, fits: bool) -> None:
    assert parse_yes_no(written) is fits


def test_yes_no_rejects_anything_else() -> None:
    with pytest.raises(AnswerError):
        parse_yes_no("maybe")


@pytest.mark.parametrize(
    "written", [[[6, 8], [3, 4]], "[[6, 8], [3, 4]]", "6 8; 3 4", "6 8\n3 4\n", "6, 8\n3, 4"]
)
def test_matrix_notations(written: object) -> None:
    assert parse_matrix(written) == [[6, 8], [3, 4]]


@pytest.mark.parametrize("written", ["6 8; 3", "a b; c d", "[[6, 8], [3"])
def test_bad_matrices(written: str) -> None:
    with pytest.raises(AnswerError):
        parse_matrix(written)
