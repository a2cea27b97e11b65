"""Live totals over Server-Sent Events, on top of django-eventstream.

Ingest side (any process: ASGI worker, management command): the `usage_changed` receiver runs
after the commit and puts one small `changed` event on the django-eventstream channel. With
`EVENTSTREAM_REDIS` the library publishes it to Redis and every process hears it; without, it
stays in this process (the zero-setup single worker). Failures are logged, never raised, so an
ingest never fails because of the live channel.

Serving side (each ASGI worker): one `TotalsHub` per event loop is the coalescing publisher. It is
the worker's only listener on the channel; on `changed` it computes the totals payload once (in a
thread, releasing the database connection at once), at most once per `SSE_MIN_INTERVAL_MS` and on
the trailing edge, so the last change always gets out. When the totals moved it encodes the
`totals` frame once and wakes every stream of the worker, which then writes that same frame. A
stream only ever reads the newest frame: a slow client skips frames instead of queueing them, and
nothing a client does reaches the ingest path.

django-eventstream's own Redis subscriber dies silently when Redis blips and is never restarted,
so the hub runs the subscription itself, in a loop that resubscribes with backoff and republishes
fresh totals after every (re)subscription (events sent meanwhile were lost).
"""
