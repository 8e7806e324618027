"""Server evidence for failing checks: the service's own log lines in each check's window, and the error in them."""
