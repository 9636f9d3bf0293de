"""Test setup: nothing reaches the Hub, everything runs on the CPU with tiny models."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A loopback Hub on 127.0.0.1, with the clients pointed at it and every other host refused."""
    from hub_server import FAKE_TOKEN, LoopbackHub, connect_clients

    with LoopbackHub(token=FAKE_TOKEN) as server:
        server.refused_hosts = connect_clients(server, monkeypatch, tmp_path / "hf-home")
        yield server
    assert server.refused_hosts == [], f"a test tried to reach other hosts: {server.refused_hosts}"
