"""Classify: relevance, topics, stance and entities of a text, the learned layer and the labelled
data they are measured on.
"""
