"""One error type that servicers raise; the server interceptor maps it to a gRPC status."""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """A failure the caller should see as ``code`` with a message meant for people."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_argument(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, message)
