"""Ingest: the ingest flow, the pipeline that stores a batch, live fetching, stories, the Dask
pool.
"""
