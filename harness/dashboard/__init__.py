"""The dashboard a merchant's developer uses locally (DESIGN.md §10), served by the harness on
the status port (127.0.0.1:8090) in place of the status page; never deployed.

    topic_window.py   bounded reads of payments.requested / payments.processed (Kafka)
    runtime.py        the composition root: settings and clients
    data.py           what each page shows, as dataclasses, from bounded reads
    status.py         the /status.json snapshot and the shared, periodically re-read value
    payment_list.py   newest payments: merge, filter, page (pure)
    throughput.py     the charts' numbers (pure)
    timeline.py       a payment's timeline from its public view (pure)
    svg_charts.py     inline SVG line charts (pure)
    views.py          the pages' HTML, everything escaped (pure)
    same_origin.py    which POSTs may act (pure)
    app.py            the FastAPI routes
"""
