import json
import math

from iotplatform.renderers import FiniteJSONRenderer


def test_non_finite_numbers_become_null_instead_of_a_500() -> None:
    data = {"sum": math.inf, "series": [[1, -math.inf], [2, math.nan], [3, 1.5]], "n": 3}
    body = json.loads(FiniteJSONRenderer().render(data))
    assert body == {"sum": None, "series": [[1, None], [2, None], [3, 1.5]], "n": 3}


def test_finite_answers_are_rendered_as_drf_does() -> None:
    data = {"a": 1.25, "b": ["x", None]}
    assert json.loads(FiniteJSONRenderer().render(data)) == data
