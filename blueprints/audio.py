"""Placeholder: filled in by its own issue."""

from flask import Blueprint

bp = Blueprint("audio", __name__)
