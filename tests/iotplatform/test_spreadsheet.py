import pytest

from iotplatform.spreadsheet import safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-1+2", "@SUM(A1)", "\t=x", "\r=x"])
def test_formula_starts_are_neutralised(text: str) -> None:
    assert safe_cell(text) == f"'{text}"


@pytest.mark.parametrize("text", ["P-001", "pump 1", "", "a=b", "temperature"])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert safe_cell(text) == text
