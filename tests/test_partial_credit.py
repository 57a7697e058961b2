"""Multi-item blocks (true/false, multiple choice, choose-all) are scored right minus wrong,
floored at zero, in one place: vicourse.grading.checking.grade_items. A guess must not pay: on a
balanced key every constant or empty answer earns nothing, a coin flip per item expects at most
a quarter of the points (less from four items on), and each item known adds to the score."""

import itertools
from fractions import Fraction

import pytest

from vicourse.grading.checking import PartialCredit, grade_items

KEY = {"1": True, "2": False, "3": True, "4": False}


def kept(got: dict, key: dict) -> float:
    try:
        grade_items(got, key)
    except PartialCredit as credit:
        return credit.kept
    return 1.0


@pytest.mark.parametrize("wrong, items, fraction", [(1, 4, 1 / 2), (2, 4, 0.0), (4, 4, 0.0), (1, 7, 5 / 7),
                                                    (2, 7, 3 / 7), (3, 7, 1 / 7), (4, 7, 0.0), (1, 2, 0.0)])
def test_right_minus_wrong_floored_at_zero(wrong, items, fraction):
    assert PartialCredit(wrong, items).kept == fraction


def test_constant_and_empty_answers_earn_nothing_on_a_balanced_key():
    assert kept({k: True for k in KEY}, KEY) == 0
    assert kept({k: False for k in KEY}, KEY) == 0
    assert kept({}, KEY) == 0
    chosen = {c: c in "BCF" for c in "ABCDEF"}  # a choose-all block: each letter is an item
    assert kept({c: False for c in chosen}, chosen) == 0 and kept({c: True for c in chosen}, chosen) == 0
    letters = {"a": "C", "b": "B", "c": "A"}  # multiple choice, a different letter for each item
    assert all(kept({k: guess for k in letters}, letters) == 0 for guess in "ABCD")


@pytest.mark.parametrize("items", [2, 4, 5, 6, 7])
def test_a_coin_flip_per_item_expects_at_most_a_quarter_and_constants_no_more(items):
    key = {str(i): i % 2 == 0 for i in range(items)}
    expected = sum(Fraction(kept(dict(zip(key, flips)), key)).limit_denominator(100) for flips in
                   itertools.product([True, False], repeat=items)) / 2**items
    assert expected <= Fraction(1, 4)
    if items % 2 == 0:  # an odd block cannot be balanced: one constant keeps 1/items, more than a coin flip
        assert kept({k: True for k in key}, key) == 0 and kept({k: False for k in key}, key) == 0


def test_each_item_known_adds_to_the_score():
    scores = []
    for right in range(len(KEY) + 1):
        got = {k: (v if i < right else not v) for i, (k, v) in enumerate(KEY.items())}
        scores.append(kept(got, KEY))
    assert scores == sorted(scores) and scores[-1] == 1.0 and scores[len(KEY) // 2] == 0.0


def test_the_message_counts_the_wrong_items_and_names_none():
    with pytest.raises(PartialCredit) as raised:
        grade_items({"1": True, "2": True, "3": False, "4": False}, KEY, "true/false answers")
    message = str(raised.value)
    assert message.startswith("2 of the 4 true/false answers are not right")
    assert not any(f"item {k}" in message or f"{k}:" in message for k in KEY)


def test_a_number_does_not_pass_for_a_boolean_and_a_missing_item_is_wrong():
    assert kept({"1": 1, "2": False, "3": True, "4": False}, KEY) == 1 / 2
    assert kept({"1": True, "2": False, "3": True}, KEY) == 1 / 2
