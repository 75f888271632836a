"""How gunicorn runs the app: the gevent worker class that gunicorn.conf.py names."""
