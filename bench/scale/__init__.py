"""Scale benchmark (``make bench-scale``): reads against a big history, and a crawl of a
200,000-page site with and without a crawler killed part-way. See ``bench.scale.run``."""
