"""The same fixtures as tests/ (emulators and receiver on 127.0.0.1)."""

from tests.conftest import engine, fake, moto, moto_endpoint, receiver, receiver_session  # noqa: F401
