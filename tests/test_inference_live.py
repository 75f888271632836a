"""/responses and /messages streams under the real gunicorn: relayed as they arrive, cut off when the client goes."""

import pytest
import requests

from tests.conftest import live_auth, read_events

API = "/api/v2/openrouter"
STREAMS = {
    "/responses": lambda text: {"input": text, "stream": True},
    "/messages": lambda text: {"messages": [{"role": "user", "content": text}], "stream": True, "max_tokens": 50},
}


@pytest.mark.parametrize("path", sorted(STREAMS))
def test_named_events_arrive_unbuffered(live, upstream, path):  # noqa: F811
    base, _ = live
    body = STREAMS[path]("tick [[chunks:4]] [[interval_ms:300]]")
    with requests.post(f"{base}{API}{path}", json=body, headers=live_auth(), stream=True, timeout=30) as response:
        assert response.status_code == 200
        arrivals = list(read_events(response))
    sent = upstream.last(path).events
    assert [e for _, e in arrivals] == [e for _, e in sent]
    assert any(e.startswith(b"event: ") for _, e in arrivals)
    for (arrived, _), (left, _) in zip(arrivals, sent, strict=True):
        assert arrived - left < 0.15, "an event was held back by the gateway"


@pytest.mark.parametrize("path", sorted(STREAMS))
def test_client_disconnect_closes_upstream(live, upstream, path):  # noqa: F811
    base, _ = live
    body = STREAMS[path]("long [[chunks:50]] [[interval_ms:100]]")
    response = requests.post(f"{base}{API}{path}", json=body, headers=live_auth(), stream=True, timeout=30)
    events = read_events(response)
    for _ in range(6):
        next(events)
    response.close()
    assert upstream.wait_for(lambda: upstream.last(path).client_disconnected, timeout=10)
    record = upstream.last(path)
    assert not record.finished
    assert len(record.events) < 20  # stopped within a few chunks, not after all 50
