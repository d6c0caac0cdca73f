"""Spiders: declarative crawl-and-extract definitions (data, never code) and their runner."""
