"""Placeholder: filled in by its own issue."""

from flask import Blueprint

bp = Blueprint("vision", __name__)
