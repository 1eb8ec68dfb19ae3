"""The same fixtures as tests/ (emulators and receiver on 127.0.0.1)."""

from tests.conftest import (  # noqa: F401
    cloudformation,
    cloudformation_session,
    engine,
    fake,
    moto,
    moto_endpoint,
    receiver,
    receiver_session,
)
