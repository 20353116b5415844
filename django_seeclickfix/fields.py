"""An encrypted text field for OAuth tokens: Fernet under ``SEECLICKFIX["TOKEN_KEYS"]``.

The first key encrypts; every key decrypts (``MultiFernet``), so keys rotate by putting a new one
first and running ``seeclickfix_rotate_keys``.

What the database holds is ciphertext. What the model instance holds after a load is also
ciphertext (a :class:`Ciphertext`), decrypted only when the attribute is read; a value that no key
decrypts raises :class:`~django_seeclickfix.exceptions.TokenDecryptionError` instead of ever
handing the ciphertext out as if it were a token. Loading a row therefore never fails because of a
lost key: only reading that token does. ``values()``, serializers and ``model_to_dict`` see
ciphertext, never the token. The field refuses every lookup except ``isnull`` (a random
ciphertext cannot be searched), is not editable and never appears in forms.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from .conf import GENERATE_KEY, app_settings
from .exceptions import TokenDecryptionError

# Prefix of the serialized form (dumpdata): loaddata recognises it and keeps the ciphertext.
SERIALIZED_PREFIX = "fernet:"


class Ciphertext(str):
    """A Fernet token as stored in the database. Its ``repr`` hides the bytes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<Ciphertext>"


@functools.lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as err:
        raise ImproperlyConfigured(
            'SEECLICKFIX["TOKEN_KEYS"] holds a value that is not a Fernet key; '
            "run manage.py check for the position."
        ) from err


def multifernet() -> MultiFernet:
    """The ``MultiFernet`` over the configured keys (first key encrypts)."""
    keys = tuple(app_settings.TOKEN_KEYS)
    if not keys:
        raise ImproperlyConfigured(
            'SEECLICKFIX["TOKEN_KEYS"] is empty: tokens cannot be stored or read. Add a key made '
            f"with: {GENERATE_KEY}"
        )
    return _fernet_for(keys)


def primary_fernet() -> Fernet:
    """The ``Fernet`` of the first key only: what writes, and what rotation aims for."""
    multifernet()  # validates the list
    return Fernet(app_settings.TOKEN_KEYS[0])


def encrypt(plaintext: str) -> Ciphertext:
    return Ciphertext(multifernet().encrypt(plaintext.encode("utf-8")).decode("ascii"))


def decrypt(ciphertext: str, *, what: str = "a stored token") -> str:
    try:
        return multifernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as err:
        raise TokenDecryptionError(
            f"{what} cannot be decrypted with any key in SEECLICKFIX['TOKEN_KEYS']: put back the "
            "key that encrypted it, or have the user connect SeeClickFix again."
        ) from err


class EncryptedAttribute(DeferredAttribute):
    """Data descriptor: the instance keeps ciphertext, reading the attribute decrypts it."""

    field: EncryptedTextField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        stored = super().__get__(instance, cls)
        if isinstance(stored, Ciphertext):
            owner = f"{type(instance).__name__}.{self.field.attname} of row {instance.pk}"
            return decrypt(stored, what=owner)
        return stored

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """Text encrypted at rest with Fernet; see the module docstring."""

    descriptor_class = EncryptedAttribute
    description = "Text encrypted with Fernet (SEECLICKFIX['TOKEN_KEYS'])"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def stored_value(self, instance: models.Model) -> Any:
        """What would be written for ``instance``, without decrypting: ciphertext or plaintext."""
        return instance.__dict__.get(self.attname)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # Saving a loaded row writes its ciphertext back unchanged: no decryption, so a row whose
        # key went missing can still get its status updated.
        return self.stored_value(model_instance)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Ciphertext | None:
        if value is None or value == "":
            return None
        return Ciphertext(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(SERIALIZED_PREFIX):
            return Ciphertext(value[len(SERIALIZED_PREFIX) :])
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, Ciphertext):
            return str(value)
        if not isinstance(value, str):
            raise TypeError(f"{self.name} takes a str token, not {type(value).__name__}.")
        return str(encrypt(value))

    def value_from_object(self, obj: models.Model) -> Any:
        # Used by serializers, model_to_dict and the admin's change detection: never the token.
        value = self.stored_value(obj)
        if value is None or isinstance(value, Ciphertext):
            return value
        return encrypt(value)

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else f"{SERIALIZED_PREFIX}{value}"

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            raise TypeError(
                f"{self.name} is encrypted with a random IV and cannot be searched "
                f"(lookup {lookup_name!r}); only isnull is supported."
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def formfield(self, **kwargs: Any) -> None:
        return None
