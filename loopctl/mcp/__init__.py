"""The agent interface: the loop as MCP tools and resources, over the same core as the CLI."""
