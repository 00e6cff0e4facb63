"""Classify: relevance, topics, stance and entities of a text, the learned layer and the labelled
data they are measured on.
"""

# What the ingest pool's forkserver imports once for all its workers (extractors.page.pool):
# named here, where importing it costs nothing, so a command can start the server early.
WORKER_PRELOAD = ("extractors.classify.preload",)
