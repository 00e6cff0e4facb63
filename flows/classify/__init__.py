"""Classify: classify items without storing them, re-judge stored documents, analyst corrections."""
