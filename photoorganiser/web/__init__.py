"""The local web app (`photoorganiser serve`): review duplicates and import plans in a
browser, browse the library, run and follow jobs through a JSON API.

Modules: `server.py` starts it (127.0.0.1, a random token), `app.py` assembles the
routes, `security.py` guards every request (token, host, cross-site), `access.py` says
which files may be read through it, `render.py` the templates; one module per page
(`home.py`, `duplicates.py`, `plan.py`, `browse.py`, `runs.py`), `media.py` thumbnails,
`jobs.py` the job queue and `api.py` its routes.
"""
