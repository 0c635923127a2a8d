"""Small protobuf helpers shared by the services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


def message_of(cls: type[M], source: object, names: Iterable[str]) -> M:
    """A ``cls`` message whose named fields are ``source``'s attributes of the same name
    (a dataclass the service computed, turned into its reply message)."""
    return cls(**{name: getattr(source, name) for name in names})


def copy_present(source: object, target: Message, names: Iterable[str]) -> None:
    """Set each named field of ``target`` from ``source``'s attribute of the same name,
    where that is not None (optional scalars: a filter, a constraint or an entity that the
    customer did or did not give)."""
    for name in names:
        value = getattr(source, name)
        if value is not None:
            setattr(target, name, value)
