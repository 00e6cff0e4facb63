"""Acquire: fetch live pages politely (robots, network guard, bounded decompression), discover
article URLs in feeds and sitemaps, read and write WARC archives.
"""
