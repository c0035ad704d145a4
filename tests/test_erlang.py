"""Erlang B against published table values, exact arithmetic, and its properties."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnis_service.domain.erlang import blocking, offered_load, phones_needed


def precise_blocking(load: float, phones: int) -> Decimal:
    """The recursion as written, B(n) = A·B(n-1) / (n + A·B(n-1)), in 50 significant digits."""
    with localcontext() as context:
        context.prec = 50
        a, b = Decimal(load), Decimal(1)
        for n in range(1, phones + 1):
            b = a * b / (n + a * b)
        return b


# The standard Erlang B table gives, for N numbers and a blocking B, the largest offered load that
# keeps blocking at or under B, rounded to three decimals: the table of teletraffic handbooks, as
# reproduced by Erlang B calculators (Westbay Engineers' erlang.com manual: 15 lines at 1 % carry
# 8.108 Erlangs). So the true largest load lies within half a unit of the last decimal.
TABLE = [
    # (numbers, blocking, Erlangs)
    (1, 0.01, 0.010),
    (2, 0.01, 0.153),
    (5, 0.01, 1.361),
    (10, 0.001, 3.092),
    (10, 0.01, 4.461),
    (10, 0.02, 5.084),
    (15, 0.01, 8.108),
    (20, 0.001, 9.411),
    (20, 0.01, 12.031),
    (50, 0.01, 37.901),
    (100, 0.001, 75.242),
    (100, 0.01, 84.064),
    (100, 0.02, 87.972),
]


@pytest.mark.parametrize(("phones", "target", "load"), TABLE)
def test_table_load_is_the_most_the_numbers_carry_at_that_blocking(phones: int, target: float, load: float) -> None:
    assert blocking(load - 0.0005, phones) <= target < blocking(load + 0.0005, phones)
    assert phones_needed(load - 0.0005, target) == phones


@pytest.mark.parametrize(("load", "phones", "expected"), [
    (1, 1, 0.5),            # A / (1 + A)
    (2, 4, 0.0952381),      # 2/21: a pool of four modems offered 2 Erlangs
    (10, 10, 0.214582),
    (10, 18, 0.00714244),
    (100, 128, 0.000967631),
])
def test_blocking_matches_the_formula(load: float, phones: int, expected: float) -> None:
    assert blocking(load, phones) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("load", "target", "phones"), [
    (10, 0.01, 18),
    (100, 0.001, 128),      # B(100, 127) = 0.00124, B(100, 128) = 0.00097
    (1000, 0.01, 1029),
])
def test_phones_needed_for_common_targets(load: float, target: float, phones: int) -> None:
    assert phones_needed(load, target) == phones


@pytest.mark.parametrize(("load", "phones"), [(10_000, 10_000), (10_000, 10_170), (100_000, 100_293), (0.5, 12)])
def test_large_and_small_loads_agree_with_fifty_digit_arithmetic(load: float, phones: int) -> None:
    assert blocking(load, phones) == pytest.approx(float(precise_blocking(load, phones)), rel=1e-9)


@pytest.mark.parametrize("load", [10_000, 100_000])
def test_huge_loads_are_sized_as_fifty_digit_arithmetic_sizes_them(load: float) -> None:
    needed = phones_needed(load, 0.001)
    assert precise_blocking(load, needed) <= Decimal("0.001") < precise_blocking(load, needed - 1)


def test_no_load_blocks_only_an_empty_pool() -> None:
    assert (blocking(0, 0), blocking(0, 1), phones_needed(0, 0.001)) == (1.0, 0.0, 1)


def test_a_pool_far_larger_than_its_load_never_blocks() -> None:
    assert blocking(5, 1_000_000) == 0.0


def test_offered_load_is_arrivals_per_hour_times_hold_in_hours() -> None:
    assert offered_load(120, 90) == 3.0


loads = st.floats(min_value=0, max_value=20_000, allow_nan=False)
sizes = st.integers(min_value=0, max_value=25_000)
targets = st.floats(min_value=1e-9, max_value=0.999, exclude_min=False)


@given(loads, sizes)
def test_blocking_is_a_probability(load: float, phones: int) -> None:
    assert 0.0 <= blocking(load, phones) <= 1.0


@given(loads, sizes)
def test_blocking_falls_as_numbers_are_added(load: float, phones: int) -> None:
    assert blocking(load, phones + 1) <= blocking(load, phones)


@given(loads, loads, sizes)
def test_blocking_rises_with_the_load(first: float, second: float, phones: int) -> None:
    low, high = sorted((first, second))
    # Equal loads up to rounding may differ by a few units in the last place either way.
    assert blocking(low, phones) <= blocking(high, phones) * (1 + 1e-12)


@given(loads, targets)
def test_recommended_size_meets_the_target_and_one_less_does_not(load: float, target: float) -> None:
    needed = phones_needed(load, target)
    assert blocking(load, needed) <= target < blocking(load, needed - 1)
