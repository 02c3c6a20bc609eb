"""Server-rendered pages (aiohttp-jinja2)."""
