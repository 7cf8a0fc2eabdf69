"""The renderer service: renders crawled pages in headless Chromium for the crawlers that ask.

It consumes ``renderer.requests`` (``crawl_contracts.RenderRequested``), renders each page in
a fresh context of its process's one browser (``browser``, ``render``), routes every request
the page makes (``decisions``: the document from the crawler's bytes; images, fonts and media
never loaded; the rest fetched by the renderer through the address policy and the job's
politeness, ``subrequests``, ``gates``), and answers ``crawl_contracts.PageRendered`` to the
request's ``reply_to``. ``create_app(settings)`` in ``app`` builds it.
"""
