"""One small module per command: options in, core call, rendering out."""
