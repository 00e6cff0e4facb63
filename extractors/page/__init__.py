"""Page: one fetched page to its main text and metadata (charset, boilerplate, language), in a
process pool with size, time and memory caps.
"""
