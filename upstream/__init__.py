"""The OpenRouter side: the HTTP client, its errors mapped onto the error tree, and the SSE relay."""
