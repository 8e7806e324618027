"""Phases on Cloud Run: the Admin API v2 client, the service spec, ID tokens, deploy and release."""
