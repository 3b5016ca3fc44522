"""The app's Streamlit settings that reliability depends on (.streamlit/config.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit import config
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_cache import populate_hash_if_needed

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))


def big_chart_message(n_bytes: int) -> ForwardMsg:
    """A new-element delta the size of a big chart (the Labels histogram is ~270 kB)."""
    msg = ForwardMsg()
    msg.delta.new_element.markdown.body = "x" * n_bytes
    return msg


@pytest.fixture
def min_cached_size():
    """Set global.minCachedMessageSize for one test; restore Streamlit's value afterwards."""
    before = config.get_option("global.minCachedMessageSize")
    yield lambda value: config.set_option("global.minCachedMessageSize", value)
    config.set_option("global.minCachedMessageSize", before)


def test_the_forward_message_cache_is_off_for_any_message_the_server_may_send(min_cached_size):
    """Issue 9: a cached-element reference the browser can no longer resolve is fatal there (Cached ForwardMsg
    MISS → websocket DISCONNECTED_FOREVER), so no message may be marked cacheable."""
    max_message_bytes = SETTINGS.get("server", {}).get("maxMessageSize", 200) * 1e6  # Streamlit's default: 200 MB
    assert SETTINGS["global"]["minCachedMessageSize"] > max_message_bytes

    min_cached_size(10e3)  # Streamlit's default: the same chart would be cached (so this test can fail)
    default = big_chart_message(300_000)
    populate_hash_if_needed(default)
    assert default.metadata.cacheable

    min_cached_size(SETTINGS["global"]["minCachedMessageSize"])
    ours = big_chart_message(300_000)
    populate_hash_if_needed(ours)
    assert ours.hash  # hashed as before, just never cached
    assert not ours.metadata.cacheable
