"""Translation between OpenAI's chat API (what callers speak) and other providers' APIs. Pure."""
