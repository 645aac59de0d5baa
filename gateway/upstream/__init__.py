"""Upstream HTTP/1.1 client: a lean keep-alive pool on asyncio protocols (no aiohttp client)."""
