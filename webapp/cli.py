"""Command-line helpers: `flask --app app mint-token --sub alice --ttl 3600`."""

import time

import click
import jwt as pyjwt


def mint_token(cfg, sub, ttl, private_key=None, extra=None):
    """A standard JWT (sub, iat, nbf, exp, and aud/iss when configured) signed for this gateway."""
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "nbf": now, "exp": now + ttl, **(extra or {})}
    if cfg.get("JWT_DECODE_AUDIENCE"):
        claims["aud"] = cfg["JWT_DECODE_AUDIENCE"]
    if cfg.get("JWT_DECODE_ISSUER"):
        claims["iss"] = cfg["JWT_DECODE_ISSUER"]
    algorithm = cfg["JWT_ALGORITHM"]
    key = private_key if algorithm[:2] != "HS" else cfg["JWT_SECRET_KEY"]
    if key is None:
        raise click.UsageError(f"{algorithm} needs the private key: pass --private-key PATH")
    return pyjwt.encode(claims, key, algorithm=algorithm)


def register_cli(app):
    """Attach the CLI commands to the app."""

    @app.cli.command("mint-token")
    @click.option("--sub", required=True, help="The user the token identifies (JWT sub).")
    @click.option("--ttl", default=3600, show_default=True, help="Lifetime in seconds.")
    @click.option("--private-key", type=click.File("r"), help="PEM private key, for RS/ES algorithms.")
    def mint_token_command(sub, ttl, private_key):
        """Print a development token for this gateway's JWT settings."""
        click.echo(mint_token(app.config, sub, ttl, private_key.read() if private_key else None))
