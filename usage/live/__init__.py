"""Live totals over Server-Sent Events.

Ingest side (any process: ASGI worker, management command): the `usage_changed` receiver runs
after the commit and nudges every hub (channel.py): on our Redis pub/sub channel when
`LIVE_REDIS` is set, so every process hears it, else straight to this process's hubs (the
zero-setup single worker). Failures are logged, never raised, so an ingest never fails because of
the live channel.

Serving side (each ASGI worker, hub.py): one `TotalsHub` per event loop is the coalescing
publisher. On a nudge it computes the totals payload once (in a thread, releasing the database
connection at once), at most once per `SSE_MIN_INTERVAL_MS` and on the trailing edge, so the last
change always gets out. When the totals moved it encodes the `totals` frame once and wakes every
stream of the worker, which then writes that same frame. A stream only ever reads the newest
frame: a slow client skips frames instead of queueing them, and nothing a client does reaches the
ingest path. The hub runs its Redis subscription in a loop that resubscribes with backoff and
republishes fresh totals after every (re)subscription (nudges sent meanwhile were lost).

views.py serves `/api/usage/stream` (and the embed stream's response). NOTES.md says why this
path is ours rather than django-eventstream's.

With GRIP_URL set (`make run-production`, deploy/) Pushpin holds the streams instead and the app
runs under gunicorn's threaded WSGI worker: grip.py admits each stream, hands it to Pushpin through
django-eventstream's GRIP view, and publishes coalesced totals events to Pushpin.
"""
