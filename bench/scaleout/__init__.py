"""Scale-out benchmark (``make bench-scaleout``): one crawl on one crawler process against the
same crawl on two. See ``bench.scaleout.run``."""
