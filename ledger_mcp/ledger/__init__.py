"""The bookkeeping domain: models, posting, hash chain, reports. Knows nothing of MCP."""
