"""pytest configuration for the paho-mqtt interop tests.

The broker under test is given by BROKER_HOST (default 127.0.0.1) and
BROKER_PORT (required); tests/interop/run.sh sets both.
"""

import os
import re
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import interop_helpers  # noqa: E402


def pytest_report_header(config):
    return f"broker under test: {interop_helpers.HOST}:{interop_helpers.PORT}"


def pytest_configure(config):
    if "BROKER_PORT" not in os.environ:
        raise pytest.UsageError("BROKER_PORT is not set (run tests/interop/run.sh, or set BROKER_HOST/BROKER_PORT)")


@pytest.fixture
def broker():
    """(host, port) of the broker under test."""
    return interop_helpers.HOST, interop_helpers.PORT


@pytest.fixture
def prefix(request):
    """A topic prefix unique to this test."""
    # Only characters that are not special in topic names or filters.
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return f"sol-it/{uuid.uuid4().hex[:8]}/{name}"


@pytest.fixture
def make_client(broker):
    """Factory for connected paho clients; all are stopped at teardown."""
    clients = []

    def make(connect=True, **kwargs):
        c = interop_helpers.Client(**kwargs)
        clients.append(c)
        if connect:
            c.connect()
        return c

    yield make
    for c in clients:
        c.stop()
