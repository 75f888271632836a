"""Flask's JSON (jsonify, error bodies, request.get_json) through orjson: one provider for every response.

Keys keep their order (no sorting); what orjson cannot encode (an integer past 64 bits, a non-string key)
goes through the standard library instead of failing the response.
"""

import json

import orjson
from flask.json.provider import JSONProvider

OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonProvider(JSONProvider):
    """app.json: orjson for dumps/loads and for the responses jsonify builds."""

    mimetype = "application/json"

    def dumps(self, obj, **kwargs):
        """JSON text of `obj` (str, as Flask's providers return)."""
        return self.dump_bytes(obj).decode()

    def dump_bytes(self, obj):
        """JSON bytes of `obj`: orjson, or the standard library for what orjson refuses."""
        try:
            return orjson.dumps(obj, option=OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            return json.dumps(obj, ensure_ascii=False, default=str).encode()

    def loads(self, s, **kwargs):
        """The value of JSON text or bytes."""
        return orjson.loads(s)

    def response(self, *args, **kwargs):
        """A JSON response of the value jsonify was given (args, or kwargs as an object)."""
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dump_bytes(obj), mimetype=self.mimetype)
