"""The single refresher: the server keeps the shared ChatGPT login fresh so hosts never refresh
it themselves (see services.py for the lock, oauth.py for the call, selectors.py for when)."""
