"""No cookie sessions: the API is authenticated by bearer tokens and keeps nothing in cookies."""

from flask.sessions import NullSession, SessionInterface


class NoSessions(SessionInterface):
    """Every request shares one empty session that refuses writes (Flask's NullSession).

    Flask's default opened a cookie session per request and, finding no SECRET_KEY, built a NullSession for it:
    half a kilobyte per request, held for the whole call by each of the thousands a gevent worker carries.
    """

    _shared = NullSession()

    def open_session(self, app, request):
        return self._shared

    def save_session(self, app, session, response):
        """Nothing to save: the session is never written (NullSession raises on a write)."""
