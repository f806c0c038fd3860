"""Settings modules: ``local`` (default for manage.py), ``test`` and ``production``.

Everything comes from the environment (django-environ); a git-ignored ``.env`` written by
``make services`` supplies the service URLs for local work.
"""
