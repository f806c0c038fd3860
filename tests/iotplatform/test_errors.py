import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from iotplatform.errors import api_exception_handler


class Raises(APIView):
    permission_classes: list[type] = []
    authentication_classes: list[type] = []

    def get(self, request: object) -> None:
        raise ValidationError({"serial": ["A device with serial 'P-1' already exists."]})


class RaisesPlain(Raises):
    def get(self, request: object) -> None:
        raise ValidationError("Nothing to do.")


@pytest.mark.parametrize(
    ("view", "body"),
    [
        (Raises, {"serial": ["A device with serial 'P-1' already exists."]}),
        (RaisesPlain, {"detail": ["Nothing to do."]}),
    ],
)
def test_a_services_validation_error_is_a_400_naming_the_field(
    view: type[APIView], body: dict[str, list[str]]
) -> None:
    """Views call services without a try/except: the API's handler answers 400, never 500."""
    response = view.as_view()(APIRequestFactory().get("/"))
    assert response.status_code == 400
    assert response.data == body


def test_other_exceptions_are_left_to_drf() -> None:
    assert api_exception_handler(RuntimeError("bug"), {}) is None
