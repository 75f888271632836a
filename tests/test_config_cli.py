"""Settings from the environment and `.env`, and the mint-token command."""

import jwt as pyjwt
import pytest

from core.config import Config, ConfigError, TestConfig
from tests.conftest import make_app

SECRET = "x" * 40


def test_defaults_match_api_md():
    cfg = Config(environ={})
    assert cfg.GATEWAY_ENV == "production"
    assert cfg.OPENROUTER_BASE_URL == "https://openrouter.ai/api/v1"
    assert cfg.OPENROUTER_DEFAULT_MODEL == "anthropic/claude-sonnet-4.5"
    assert (cfg.OPENROUTER_VISION_MODEL, cfg.OPENROUTER_AUDIO_MODEL) == ("openai/gpt-4o", "google/gemini-2.5-flash")
    assert (cfg.OPENROUTER_TIMEOUT, cfg.OPENROUTER_CONNECT_TIMEOUT) == (120000, 10000)
    assert (cfg.DEFAULT_MAX_TOKENS, cfg.MAX_TOKENS_LIMIT, cfg.ALLOWED_MODELS) == (4096, None, [])
    assert cfg.RATELIMIT_STORAGE_URI == "memory://"
    assert (cfg.RATELIMIT_ENABLED, cfg.RATELIMIT_FAIL_OPEN) == (True, False)
    assert [
        cfg.RATELIMIT_CHAT,
        cfg.RATELIMIT_STREAMING,
        cfg.RATELIMIT_VISION,
        cfg.RATELIMIT_AUDIO,
        cfg.RATELIMIT_FUNCTION_CALLING,
    ] == ["30/minute", "20/minute", "15/minute", "10/minute", "20/minute"]
    assert cfg.MAX_CONCURRENT_PER_USER == 8
    assert (cfg.MAX_CONTENT_LENGTH, cfg.MAX_IMAGE_BYTES, cfg.MAX_AUDIO_BYTES) == (40 << 20, 20 << 20, 15 << 20)
    assert (cfg.MODELS_CACHE_TTL, cfg.TOOL_SESSION_TTL, cfg.JWT_LEEWAY, cfg.TRUSTED_PROXIES) == (300, 900, 30, 1)
    assert (cfg.LOG_LEVEL, cfg.LOG_FORMAT) == ("INFO", "json")


def test_environment_values_are_parsed():
    cfg = Config(
        environ={
            "OPENROUTER_FALLBACK_MODELS": "a/b, c/d ,",
            "ALLOWED_MODELS": "a/b",
            "MAX_TOKENS_LIMIT": "1000",
            "REDIS_URL": "redis://h:1/0",
            "RATELIMIT_ENABLED": "false",
            "OPENROUTER_BASE_URL": "http://x/api/v1/",
            "USER_DAILY_BUDGET_USD": "2.5",
        }
    )
    assert cfg.OPENROUTER_FALLBACK_MODELS == ["a/b", "c/d"]
    assert cfg.ALLOWED_MODELS == ["a/b"]
    assert cfg.MAX_TOKENS_LIMIT == 1000
    assert cfg.RATELIMIT_STORAGE_URI == "redis://h:1/0"
    assert cfg.RATELIMIT_ENABLED is False
    assert cfg.OPENROUTER_BASE_URL == "http://x/api/v1"
    assert cfg.USER_DAILY_BUDGET_USD == 2.5


def test_bad_number_is_refused():
    with pytest.raises(ConfigError, match="OPENROUTER_TIMEOUT must be a whole number"):
        Config(environ={"OPENROUTER_TIMEOUT": "soon"})


def test_dotenv_is_read_and_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("OPENROUTER_DEFAULT_MODEL=openai/gpt-5.2\nDEFAULT_MAX_TOKENS=77\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFAULT_MAX_TOKENS", "88")
    cfg = Config()
    assert cfg.OPENROUTER_DEFAULT_MODEL == "openai/gpt-5.2"
    assert cfg.DEFAULT_MAX_TOKENS == 88


def test_importing_app_needs_no_settings(monkeypatch):
    import importlib

    import app as app_module

    for name in ("JWT_SECRET_KEY", "OPENROUTER_API_KEY", "GATEWAY_ENV"):
        monkeypatch.delenv(name, raising=False)
    importlib.reload(app_module)
    assert callable(app_module.create_app)


def test_mint_token_cli():
    app = make_app(JWT_SECRET_KEY=SECRET, JWT_AUDIENCE="gw")
    result = app.test_cli_runner().invoke(args=["mint-token", "--sub", "alice", "--ttl", "120"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    claims = pyjwt.decode(token, SECRET, algorithms=["HS256"], audience="gw")
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 120
    client = app.test_client()
    response = client.post("/api/v2/openrouter/_test/quota", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_test_config_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-from-shell")
    assert TestConfig().OPENROUTER_API_KEY == "sk-or-v1-test"


@pytest.mark.parametrize("env", ["staging", "prod", "Production2"])
def test_unknown_gateway_env_is_refused(env):
    with pytest.raises(ConfigError, match="GATEWAY_ENV must be production or development"):
        Config(environ={"GATEWAY_ENV": env, "JWT_SECRET_KEY": "x" * 40}).validate()


def test_development_logs_verbosely_unless_told():
    assert Config(environ={"GATEWAY_ENV": "development"}).LOG_LEVEL == "DEBUG"
    assert Config(environ={"GATEWAY_ENV": "development", "LOG_LEVEL": "warning"}).LOG_LEVEL == "WARNING"
    assert Config(environ={}).LOG_LEVEL == "INFO"


def test_gunicorn_settings_come_from_dotenv_too(tmp_path, monkeypatch):
    import runpy
    from pathlib import Path

    (tmp_path / ".env").write_text(
        "PORT=18941\nGUNICORN_WORKER_CLASS=gthread\nGUNICORN_THREADS=7\nREDIS_URL=redis://h:1/0\nWEB_CONCURRENCY=3\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("PORT", "BIND", "GUNICORN_WORKER_CLASS", "GUNICORN_THREADS", "REDIS_URL", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))  # the config sets it otherwise
    settings = runpy.run_path(str(Path(__file__).parent.parent / "gunicorn.conf.py"))
    assert settings["bind"] == "0.0.0.0:18941"
    assert (settings["threads"], settings["workers"], settings["worker_class"]) == (7, 3, "gthread")
    assert settings["wsgi_app"] == "app:create_app()"
    assert settings["graceful_timeout"] >= 120
