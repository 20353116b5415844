import pytest

from django_seeclickfix import exceptions as exc


def package_exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in the library (the emulator, test tooling with errors of
    its own, excepted), found by importing each module and walking what it defines."""
    import importlib
    import inspect
    import pkgutil

    import django_seeclickfix

    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(django_seeclickfix.__path__, "django_seeclickfix."):
        if ".testing" in info.name or ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def test_the_walk_finds_the_classes_outside_exceptions_py_too():
    names = {cls.__name__ for cls in package_exception_classes()}
    assert {"SeeClickFixError", "AccountUnavailable", "LinkRefused", "ActionInFlight"} <= names
    assert len(names) >= 15


@pytest.mark.parametrize("cls", package_exception_classes(), ids=lambda cls: cls.__qualname__)
def test_every_error_has_one_root(cls):
    assert issubclass(cls, exc.SeeClickFixError)


def test_api_error_family():
    assert issubclass(exc.ValidationError, exc.APIError)
    assert issubclass(exc.NotFound, exc.APIError)
    assert issubclass(exc.PermissionDenied, exc.APIError)
    assert issubclass(exc.AbuseBlocked, exc.RateLimited)
    assert not issubclass(exc.TransientError, exc.APIError)


def test_repr_and_str_carry_status_and_message_but_not_the_response():
    class Response:
        def __repr__(self):
            return "<Response with Authorization: Bearer SENTINEL>"

    err = exc.APIError("Bad request", status=400, body={"message": "x"}, response=Response())
    assert str(err) == "Bad request"
    assert repr(err) == "APIError(status=400, message='Bad request')"
    assert "SENTINEL" not in repr(err) + str(err)


def test_validation_error_keeps_normalised_errors_and_rate_limit_clamps():
    err = exc.ValidationError("Invalid", errors={"address": ["can't be blank"]})
    assert err.status == 422
    assert err.errors == {"address": ["can't be blank"]}
    assert exc.RateLimited("slow down", retry_after=-3).retry_after == 0.0
    assert "retry_after=12.0" in repr(exc.RateLimited("slow down", retry_after=12))


@pytest.mark.parametrize(
    "error",
    [
        exc.SeeClickFixError("plain"),
        exc.APIError("Bad request", status=400, body={"message": "x"}),
        exc.ValidationError("Invalid", errors={"address": ["can't be blank"]}, body={"a": 1}),
        exc.OAuthError("refused", error="invalid_client", status=401),
        exc.RateLimited("slow down", retry_after=12, status=429),
        exc.AbuseBlocked("blocked", retry_after=600, status=403),
        exc.TransientError("502 from SeeClickFix", status=502),
        exc.ReauthRequired("reconnect"),
        exc.AccountUnavailable("disconnected"),
    ],
)
def test_errors_survive_pickling_with_type_and_attributes(error):
    # Celery pickles exceptions into result backends and across retries.
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert repr(copy) == repr(error)
    assert vars(copy) == vars(error)


def test_pickling_drops_the_response_and_its_authorization_header():
    import pickle

    import requests

    request = requests.Request(
        "GET",
        "https://seeclickfix.com/api/v2/profile",
        headers={"Authorization": "Bearer SENTINEL"},
    ).prepare()
    response = requests.Response()
    response.request = request
    response.status_code = 500
    err = exc.APIError("Server error", status=500, response=response)
    blob = pickle.dumps(err)
    assert b"SENTINEL" not in blob
    assert pickle.loads(blob).response is None
