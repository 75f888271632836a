"""The OpenRouter key never appears in a response or a log line, even at DEBUG, even on a crash."""

from tests.conftest import make_app, token_for
from tests.servers import free_port

KEY = "sk-or-v1-" + "5ec7e7" * 10 + "beef"


def test_key_never_leaks(mock_openrouter, captured_logs):
    mock_openrouter.reset()
    live = make_app(OPENROUTER_BASE_URL=mock_openrouter.url, OPENROUTER_API_KEY=KEY, LOG_LEVEL="DEBUG")
    dead = make_app(
        OPENROUTER_BASE_URL=f"http://127.0.0.1:{free_port()}/api/v1", OPENROUTER_API_KEY=KEY, LOG_LEVEL="DEBUG"
    )
    bodies = []
    for app, text in ((live, "x [[fault:401]]"), (live, "x [[fault:drop]]"), (dead, "x")):
        headers = {"Authorization": f"Bearer {token_for(app)}"}
        body = {"messages": [{"role": "user", "content": text}]}
        with app.test_client().post("/api/v2/openrouter/chat/completions", json=body, headers=headers) as r:
            assert r.status_code == 502
            bodies.append(r.get_data(as_text=True) + str(r.headers))
    with live.test_client().get("/api/v2/openrouter/_test/crash") as crash:
        assert crash.status_code == 500
        bodies.append(crash.get_data(as_text=True))
    logs = captured_logs.getvalue()
    assert "Traceback" in logs and "[REDACTED]" in logs  # the crash was logged, its key redacted
    assert mock_openrouter.last("/chat/completions").headers["Authorization"] == f"Bearer {KEY}"
    for text in [*bodies, logs]:
        assert KEY not in text
